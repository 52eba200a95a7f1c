"""Compressing a release artifact: pack and unpack throughput of each candidate codec, as the
Python library `releases` would use and as `tar` + the codec's own command line (the baseline),
on a real release tree (examples/nextjs built: `.next` + node_modules, `.next/cache` left out,
as `releases pack` leaves it out).

Pack: the tree's tar stream compressed to a file. Unpack: the file decompressed and the tar
stream read to its end (extraction itself is the same for every codec, sources/tarstream.py).
Throughput is MB of tree (uncompressed tar) per second; medians of --runs runs, codecs
interleaved round by round. Also: the artifact size with and without node_modules, and what
a transfer of each takes over a 100 Mbit/s link (size / 12.5 MB/s).

    .venv/bin/python bench/artifact.py --tree RELEASE_DIR [--runs 3] [--slow-runs 1]

RELEASE_DIR: a built release (e.g. `releases pack --work W ...` then W/releases/<id>).
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import lzma
import statistics
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import zstandard

LINK_MB_S = 12.5  # 100 Mbit/s
Codec = tuple[Callable[[bytes], bytes], Callable[[bytes], bytes], list[str], list[str]]


def _zstd_pack(data: bytes) -> bytes:
    """As sources/artifact/payload.py writes: a stream writer, level 3, all cores."""
    out = io.BytesIO()
    compressor = zstandard.ZstdCompressor(level=3, threads=-1)
    with compressor.stream_writer(out, closefd=False) as sink:
        sink.write(data)
    return out.getvalue()


def _zstd_unpack(data: bytes) -> bytes:
    """As the extraction reads: a stream reader."""
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    return reader.readall()


CODECS: dict[str, Codec] = {
    "zstd -3 (zstandard, all cores)": (
        _zstd_pack,
        _zstd_unpack,
        ["zstd", "-3", "-T0", "-q", "-c"],
        ["zstd", "-d", "-q", "-c"],
    ),
    "gzip -6 (stdlib)": (
        lambda d: gzip.compress(d, 6),
        gzip.decompress,
        ["gzip", "-6", "-c"],
        ["gzip", "-d", "-c"],
    ),
    "gzip -1 (stdlib)": (
        lambda d: gzip.compress(d, 1),
        gzip.decompress,
        ["gzip", "-1", "-c"],
        ["gzip", "-d", "-c"],
    ),
    "bzip2 -9 (stdlib)": (
        lambda d: bz2.compress(d, 9),
        bz2.decompress,
        ["bzip2", "-9", "-c"],
        ["bzip2", "-d", "-c"],
    ),
    "xz -6 (stdlib lzma)": (
        lambda d: lzma.compress(d, preset=6),
        lzma.decompress,
        ["xz", "-6", "-T1", "-c"],
        ["xz", "-d", "-c"],
    ),
}


SLOW = ("bzip2 -9 (stdlib)", "xz -6 (stdlib lzma)")


def tar_of(tree: Path, without: tuple[str, ...]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(tree, ".", filter=lambda i: None if _left_out(i.name, without) else i)
    return out.getvalue()


def _left_out(name: str, without: tuple[str, ...]) -> bool:
    rel = name.removeprefix("./")
    return any(rel == w or rel.startswith(w + "/") for w in without)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def shell(argv: list[str], data: bytes) -> bytes:
    return subprocess.run(argv, input=data, capture_output=True, check=True).stdout


def row(name: str, full: bytes, runs: int) -> str:
    """One codec's line: size, then pack and unpack MB/s, library and tar + command line."""
    pack, unpack, cli_pack, cli_unpack = CODECS[name]
    packed = pack(full)
    assert unpack(packed) == full
    times: dict[str, list[float]] = {"p": [], "pc": [], "u": [], "uc": []}
    for _ in range(runs):  # interleaved: library and command line alike in each round
        times["p"].append(timed(lambda: pack(full)))
        times["pc"].append(timed(lambda: shell(cli_pack, full)))
        times["u"].append(timed(lambda: unpack(packed)))
        times["uc"].append(timed(lambda: shell(cli_unpack, packed)))
    rate = {k: len(full) / 1e6 / statistics.median(v) for k, v in times.items()}
    return (
        f"{name:34} {len(packed) / 1e6:8.1f} {rate['p']:10.1f} {rate['pc']:8.1f} "
        f"{rate['u']:12.1f} {rate['uc']:8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slow-runs", type=int, default=1, help="runs of bzip2 and xz")
    parser.add_argument("--codecs", nargs="*", default=list(CODECS))
    args = parser.parse_args()
    full = tar_of(args.tree, (".next/cache",))
    mb = len(full) / 1e6
    print(f"tree: {args.tree} ({mb:.1f} MB as tar, .next/cache left out)")
    heads = ("size MB", "pack MB/s", "tar+cli", "unpack MB/s", "tar+cli")
    print(f"{'codec':34} {heads[0]:>8} {heads[1]:>10} {heads[2]:>8} {heads[3]:>12} {heads[4]:>8}")
    for name in args.codecs:
        runs = args.slow_runs if name in SLOW else args.runs
        print(row(name, full, runs), flush=True)
    code_only = tar_of(args.tree, (".next/cache", "node_modules"))
    zstd_full = len(CODECS[args.codecs[0]][0](full)) / 1e6
    zstd_code = len(CODECS[args.codecs[0]][0](code_only)) / 1e6
    print(
        f"\nartifact with node_modules (chosen): {zstd_full:.1f} MB, "
        f"{zstd_full / LINK_MB_S:.1f} s over 100 Mbit/s"
    )
    print(
        f"artifact without node_modules:      {zstd_code:.1f} MB, "
        f"{zstd_code / LINK_MB_S:.1f} s over 100 Mbit/s (+ an install on every server)"
    )


if __name__ == "__main__":
    main()
