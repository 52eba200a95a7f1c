"""What checking an artifact costs now that its tree is scanned before anything is made.

`deploy --artifact` reads the artifact twice: the check (sources/artifact/container.py:
digest, plus decompressing and scanning the tree within its declared sizes) before the lock,
then the extraction. This times, on a generated node_modules-like tree packed as `pack` packs
it, in this process: the digest alone (what the check read before the scan existed), the
check as it is, and the extraction; medians of --runs interleaved rounds. The check's extra
cost is "check" minus "digest only"; "extract" is what a deploy spends anyway.

    .venv/bin/python bench/artifact_check.py [--runs 3] [--files 30000] [--size 4096]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from _roots import tree
from _timing import Samples, median_ms, scratch, table

from releases_cli.sources.artifact import bounds, container
from releases_cli.sources.artifact import manifest as mf
from releases_cli.sources.artifact.payload import extract_payload, write_payload


def _pack(release: Path, out: Path) -> None:
    with (out.parent / "payload").open("w+b") as spool:
        packed = write_payload(release, spool)
        manifest = mf.Manifest(
            mf.FORMAT, "20261101T000000Z", packed.digest, packed.size, "zstd",
            tree_size=packed.tree_size, files=packed.files, entries=packed.entries,
        )  # fmt: skip
        with out.open("wb") as target:
            container.write(target, manifest, spool)


def _digest_only(artifact: Path) -> None:
    digest = hashlib.sha256()
    with artifact.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)


def _check(artifact: Path) -> None:
    with artifact.open("rb") as stream:
        container.check(stream)


def _extract(artifact: Path, checked: container.Checked, dest: Path) -> None:
    dest.mkdir()
    with artifact.open("rb") as stream:
        reader = container.payload_reader(stream, checked)
        extract_payload(reader, dest, bounds.limits(checked.manifest))


def _timed(samples: Samples, label: str, action: Callable[[], None]) -> None:
    cpu, started = time.process_time(), time.perf_counter()
    action()
    samples.add(label, time.perf_counter() - started, time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS") or 3))
    parser.add_argument("--files", type=int, default=30_000)
    parser.add_argument("--size", type=int, default=4096)
    args = parser.parse_args()
    with scratch("artifact-check") as work:
        release = tree(work / "release", args.files, size=args.size)
        artifact = work / "app.artifact"
        _pack(release, artifact)
        print(f"{args.files} files of {args.size} bytes; artifact {artifact.stat().st_size} bytes")
        with artifact.open("rb") as stream:
            checked = container.check(stream)
        dest = work / "out"
        samples = Samples()
        for round_number in range(args.runs + 1):  # one untimed warm-up round
            round_samples = samples if round_number else Samples()
            _timed(round_samples, "digest only", lambda: _digest_only(artifact))
            _timed(round_samples, "check (digest + scan)", lambda: _check(artifact))
            _timed(round_samples, "extract", lambda: _extract(artifact, checked, dest))
            shutil.rmtree(dest)
        table("artifact check and extraction", samples, ["digest only", "extract"])
        extra = median_ms(samples.wall["check (digest + scan)"]) - median_ms(
            samples.wall["digest only"]
        )
        print(f"the scan adds {extra:.0f} ms to the check")


if __name__ == "__main__":
    main()
