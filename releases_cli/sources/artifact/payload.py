"""The payload of an artifact: the release tree as a zstd-compressed tar (written here, read by
the same path-safe extractor as git exports, sources/tarstream.py).

Written through the no-follow walker (core/tree.py): directories, regular files and symlinks as
they are (a link is data, never followed); FIFOs and sockets are not app content and are left
out. `.next/cache` is left out too: Next's build cache is only read by the next build, is often
the biggest part of `.next`, and names the build machine's paths. zstd (level 3, all cores):
chosen by bench/artifact.py, see docs/artifacts.md.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol, cast

from releases_cli.core import safefs
from releases_cli.core.errors import SourceFailed
from releases_cli.core.tree import Kind, walk
from releases_cli.sources import tarstream
from releases_cli.sources.tarheader import BadArchive

LEVEL = 3
CHUNK = 1 << 20
MAX_WINDOW = 1 << 27  # zstd's default decoding limit; level 3 uses a few MiB
LEFT_OUT = (".next/cache",)
NATIVE_SUFFIX = ".node"  # a compiled Node addon
NATIVE_BUILD = "binding.gyp"  # an addon built at install time


class Readable(Protocol):
    def read(self, count: int = -1, /) -> bytes: ...


@dataclass
class Packed:
    """What went into a payload."""

    digest: str = ""  # "sha256:<hex>" of the compressed bytes
    size: int = 0  # compressed bytes
    tree_size: int = 0  # bytes of regular files packed
    files: int = 0
    entries: int = 0  # tar members: directories, files and links
    native: list[str] = field(default_factory=list)  # paths of native modules


class _Hashing:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.hash, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def _left_out(rel: str) -> bool:
    return any(rel == prefix or rel.startswith(prefix + "/") for prefix in LEFT_OUT)


def write_payload(release: Path, out: IO[bytes]) -> Packed:
    """Pack the tree at `release` into `out` (compressed); return what was packed."""
    import zstandard

    packed = Packed()
    hashing = _Hashing(out)
    compressor = zstandard.ZstdCompressor(level=LEVEL, threads=-1)
    with (
        compressor.stream_writer(cast(IO[bytes], hashing), closefd=False) as sink,
        safefs.dir_at(release) as top,
    ):
        for entry in walk(top):
            if entry.kind is Kind.LEAVE or entry.kind is Kind.OTHER or _left_out(entry.rel):
                continue
            info = tarfile.TarInfo(entry.rel)
            st = entry.lstat()
            info.mtime, info.mode = int(st.st_mtime), stat.S_IMODE(st.st_mode)
            packed.entries += 1
            if entry.kind is Kind.DIR:
                info.type = tarfile.DIRTYPE
                sink.write(info.tobuf(tarfile.PAX_FORMAT))
            elif entry.kind is Kind.LINK:
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(entry.name, dir_fd=entry.parent)
                sink.write(info.tobuf(tarfile.PAX_FORMAT))
            else:
                packed.tree_size += _write_file(sink, entry.parent, entry.name, info)
                packed.files += 1
                if entry.name.endswith(NATIVE_SUFFIX) or entry.name == NATIVE_BUILD:
                    packed.native.append(entry.rel)
        sink.write(bytes(2 * tarstream.BLOCK))
    packed.digest, packed.size = f"sha256:{hashing.hash.hexdigest()}", hashing.size
    return packed


def _write_file(sink: IO[bytes], parent: int, name: str, info: tarfile.TarInfo) -> int:
    fd = os.open(name, safefs.READ_FLAGS, dir_fd=parent)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped since the walk saw it: not ours to read
            raise SourceFailed(f"{info.name} changed while it was packed; retry")
        info.size = st.st_size
        sink.write(info.tobuf(tarfile.PAX_FORMAT))
        left = st.st_size
        while left:
            chunk = os.read(fd, min(left, CHUNK))
            if not chunk:
                raise SourceFailed(f"{info.name} shrank while it was packed; retry")
            sink.write(chunk)
            left -= len(chunk)
        sink.write(bytes(-st.st_size % tarstream.BLOCK))
        return st.st_size
    finally:
        os.close(fd)


def _decompressed(compressed: Readable) -> IO[bytes]:
    import zstandard

    # The window a frame may ask for is capped (the library's default, said here): a header
    # cannot make us allocate more.
    return cast(
        IO[bytes],
        zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW).stream_reader(
            cast(IO[bytes], compressed), read_across_frames=True
        ),
    )


def scan_payload(compressed: Readable, limits: tarstream.Limits) -> tarstream.Totals:
    """Decompress and check the tree as extraction would (tarstream.scan), writing nothing;
    BadArchive on the first thing wrong or over `limits`."""
    import zstandard

    try:
        return tarstream.scan(_decompressed(compressed), limits)
    except zstandard.ZstdError as error:
        raise BadArchive(f"the content cannot be decompressed: {error}") from None


def extract_payload(compressed: Readable, dest: Path, limits: tarstream.Limits) -> int:
    """Decompress and extract into the empty directory `dest`, stopping at the first excess
    over `limits`; read `compressed` to its end (so a hash over it covers everything). Returns
    the files written."""
    import zstandard

    try:
        files = tarstream.extract_stream(_decompressed(compressed), dest, limits=limits)
    except zstandard.ZstdError as error:
        raise SourceFailed(f"artifact content cannot be decompressed: {error}") from None
    while compressed.read(CHUNK):
        pass
    return files
