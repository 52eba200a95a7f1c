"""Extract the tar stream of `git archive` (or of a release artifact) into a release directory,
safely and in one pass.

Streaming (no temporary archive on disk), and stricter than `tar -x`: every entry must be a
relative path without `..`, inside a directory this extraction created itself, so nothing can be
written outside the release or through a symlink. Only directories, regular files and symlinks
are made (all `git archive` produces); modes keep the executable bit (the umask applies, as
with `tar -x` run by a normal user) and mtimes are the commit time, as `git archive` sets them.

Headers are parsed strictly (tarheader.py). With Limits (an artifact's), the bytes, files,
entries, path bytes and the stream's own length are counted as they are read and the read
stops at the first excess, so an archive costs at most that much disk, memory and CPU;
`scan` runs every check without writing, so a caller can refuse before it creates anything.
"""

from __future__ import annotations

import os
import posixpath
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from releases_cli.core import faults
from releases_cli.core.erase import elided
from releases_cli.core.errors import SourceFailed
from releases_cli.core.tree import MAX_DEPTH
from releases_cli.sources import tarheader
from releases_cli.sources.tarheader import BadArchive, Entry

WORKERS = 4
_IN_FLIGHT_FILES = 256  # files read but not yet written: bounds memory...
_IN_FLIGHT_BYTES = 64 << 20  # ...also in bytes
_WHOLE_FILE = 8 << 20  # a file up to this size is read whole and written by a worker
_CHUNK = 1 << 20  # a larger one is copied in chunks of this size, never held whole
BLOCK = tarheader.BLOCK
DIR, SYMLINK, FILE = tarheader.DIR, tarheader.SYMLINK, tarheader.FILE
MAX_COMPONENT = 255  # bytes of one path component (Linux NAME_MAX)
_UNBOUNDED = 1 << 62


class Readable(Protocol):
    """What extraction reads from: a pipe, a file, a decompressor."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class Limits:
    """What one archive may hold; the read stops with BadArchive at the first excess, so an
    archive costs at most this much disk, memory and CPU whatever its headers claim."""

    bytes: int = _UNBOUNDED  # data of all members together
    files: int = _UNBOUNDED  # regular files
    entries: int = _UNBOUNDED  # members (pax headers not counted)
    names: int = _UNBOUNDED  # bytes of all paths together (directories' are held in memory)
    stream: int = _UNBOUNDED  # bytes of the whole tar stream: data, headers, pax, padding
    origin: str = "the limit"  # where the numbers come from, for the error line


@dataclass
class Totals:
    """What an archive held, counted as it is read and checked against its Limits."""

    limits: Limits
    bytes: int = 0
    files: int = 0
    entries: int = 0
    names: int = 0

    def add(self, item: Entry) -> None:
        self.bytes += item.size
        self.files += item.kind in FILE
        self.entries += 1
        self.names += len(item.name)
        most = self.limits
        if (
            self.bytes > most.bytes
            or self.files > most.files
            or self.entries > most.entries
            or self.names > most.names
        ):
            self._refuse()

    def _refuse(self) -> None:
        most = self.limits
        for what, count, bound in (
            ("bytes of data", self.bytes, most.bytes),
            ("files", self.files, most.files),
            ("entries", self.entries, most.entries),
            ("bytes of paths", self.names, most.names),
        ):
            if count > bound:
                raise BadArchive(f"the archive holds more than {bound} {what} ({most.origin})")


class _Metered:
    """Reads through `read`, refusing beyond `most` bytes in all: bounds the time a stream
    can take (endless headers, zero blocks, a decompression bomb)."""

    def __init__(self, read: Callable[[int], bytes], limits: Limits) -> None:
        self._read, self._limits, self.count = read, limits, 0

    def read(self, size: int) -> bytes:
        data = self._read(size)
        self.count += len(data)
        if self.count > self._limits.stream:
            raise BadArchive(
                f"the archive's tar stream runs past {self._limits.stream} bytes "
                f"({self._limits.origin})"
            )
        return data


class Body:
    """A member's data, read from the stream by the consumer: whole when small, in chunks when
    large, so memory stays bounded whatever size a header claims. What is not read is skipped."""

    def __init__(self, read: Callable[[int], bytes], size: int) -> None:
        self._read = read
        self._left = size

    def whole(self) -> bytes:
        data = _exactly(self._read, self._left)
        self._left = 0
        return data

    def chunks(self) -> Iterator[bytes]:
        while self._left > 0:
            chunk = _exactly(self._read, min(self._left, _CHUNK))
            self._left -= len(chunk)
            yield chunk

    def skip(self) -> None:
        for _ in self.chunks():
            pass


def entries(read: Callable[[int], bytes], totals: Totals) -> Iterator[tuple[Entry, Body]]:
    """Parse a tar stream: (entry, body) per member, counted into `totals` (BadArchive past its
    limits or on a malformed header); the body must be used before the next entry is asked
    for. tarfile.open("r|") does the same with a per-member cost that was most of an export's
    CPU time."""
    pax: dict[str, str] = {}
    while True:
        header = _exactly(read, BLOCK)
        if header == tarheader.ZERO_BLOCK:
            return
        tarheader.check_block(header)
        size = tarheader.data_size(header, pax)
        kind = tarheader.kind_of(header)
        if kind in (tarheader.PAX_GLOBAL, tarheader.PAX_LOCAL):
            if size > tarheader.MAX_PAX:
                raise BadArchive(f"a pax header of {size} bytes in the archive")
            records = _exactly(read, size)
            _exactly(read, -size % BLOCK)
            if kind == tarheader.PAX_LOCAL:
                pax = tarheader.pax_records(records)
            continue
        item = tarheader.entry(header, pax, size)
        totals.add(item)
        body = Body(read, size)
        yield item, body
        body.skip()
        _exactly(read, -size % BLOCK)
        pax = {}


def scan(stream: Readable, limits: Limits) -> Totals:
    """Check a tar stream as extract_stream would extract it, writing nothing: every header,
    every path (plain, relative, inside a directory the archive made, not twice), every limit,
    and only zero bytes after its end. BadArchive says what is wrong."""
    totals = Totals(limits)
    metered = _Metered(stream.read, limits)
    dirs: set[str] = {""}
    others: set[int] = set()  # hashes: what is held stays small (a collision only refuses)
    for item, body in entries(metered.read, totals):
        name = _safe_name(item.name, dirs)
        if name in dirs or hash(name) in others:
            raise BadArchive(f"refusing archive entry {_shown(item.name)}: it appears twice")
        if item.kind == DIR:
            dirs.add(name)
        else:
            others.add(hash(name))
        body.skip()
    drain_zeros(metered.read)
    return totals


def drain_zeros(read: Callable[[int], bytes]) -> None:
    """Read what follows the end-of-archive block: tar pads with zeros, nothing else."""
    while chunk := read(_CHUNK):
        if chunk.count(0) != len(chunk):
            raise BadArchive("the archive has data after its end-of-archive block")


def _exactly(read: Callable[[int], bytes], count: int) -> bytes:
    data = read(count) if count else b""
    while len(data) < count:
        more = read(count - len(data))
        if not more:
            raise BadArchive("the archive ended early")
        data += more
    return data


def extract_stream(
    stream: Readable, dest: Path, workers: int = WORKERS, limits: Limits | None = None
) -> int:
    """Extract the uncompressed tar read from `stream` into the existing directory `dest`;
    with `limits`, stop at the first excess (BadArchive) and read the stream to its end
    (zeros only).

    The stream is parsed and checked in this thread; files are written by a few worker
    threads (file creation is syscall-bound and releases the GIL, so this beats `tar -x`,
    which writes one file at a time). Returns the number of regular files written. Raises
    SourceFailed on an unsafe or broken archive (the caller marks the release failed).
    """
    made_dirs: dict[str, int] = {"": 0}  # relative dir -> mtime, so mtimes are set last
    files = 0
    metered = _Metered(stream.read, limits or Limits())
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="extract") as pool:
            pending: deque[tuple[Future[None], int]] = deque()
            in_flight = 0
            for entry, body in entries(metered.read, Totals(limits or Limits())):
                name = _safe_name(entry.name, made_dirs)
                target = os.path.join(dest, name)
                if entry.kind == DIR:
                    os.mkdir(target)
                    made_dirs[name] = entry.mtime
                elif entry.kind in FILE and entry.size > _WHOLE_FILE:
                    _write_chunks(target, body.chunks(), _mode(entry), entry.mtime)
                    files += 1
                elif entry.kind in FILE:
                    data, mode = body.whole(), _mode(entry)
                    pending.append(
                        (pool.submit(_write, target, data, mode, entry.mtime), len(data))
                    )
                    in_flight += len(data)
                    while len(pending) > _IN_FLIGHT_FILES or in_flight > _IN_FLIGHT_BYTES:
                        done, size = pending.popleft()
                        done.result()  # also surfaces a worker's error early
                        in_flight -= size
                    files += 1
                    if files == 10:
                        faults.point("mid_export")
                elif entry.kind == SYMLINK:
                    os.symlink(entry.linkname, target)
                    os.utime(target, (entry.mtime, entry.mtime), follow_symlinks=False)
                # hard links, devices and fifos never come out of `git archive`: skipped
            for done, _ in pending:
                done.result()
            if limits is not None:
                drain_zeros(metered.read)
    except (OSError, ValueError) as error:
        raise SourceFailed(f"extracting the archive into {dest} failed: {error}") from error
    for name, mtime in sorted(made_dirs.items(), reverse=True):  # children before parents
        if name:
            os.utime(os.path.join(dest, name), (mtime, mtime))
    return files


def _mode(entry: Entry) -> int:
    return 0o755 if entry.mode & 0o111 else 0o644


def _write(target: str, data: bytes, mode: int, mtime: int) -> None:
    _write_chunks(target, (data,), mode, mtime)


def _write_chunks(target: str, chunks: Iterable[bytes], mode: int, mtime: int) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


def _safe_name(raw: str, made_dirs: Container[str]) -> str:
    name = raw.rstrip("/")
    parts = name.split("/")
    if len(parts) > MAX_DEPTH:  # the copy's limit; also keeps paths far from PATH_MAX
        where = elided(parts)
        raise BadArchive(f"refusing archive entry {where}: nested deeper than {MAX_DEPTH} levels")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise BadArchive(f"refusing archive entry {_shown(raw)}: not a plain relative path")
    if any(len(p.encode(errors="surrogateescape")) > MAX_COMPONENT for p in parts):
        raise BadArchive(
            f"refusing archive entry {_shown(raw)}: a name longer than {MAX_COMPONENT} bytes"
        )
    if posixpath.dirname(name) not in made_dirs:
        raise BadArchive(
            f"refusing archive entry {_shown(raw)}: its directory is not in the archive"
        )
    return name


def _shown(text: str) -> str:
    """A path from the archive for an error line: escaped (no control characters reach the
    terminal) and clipped."""
    shown = repr(text)
    return shown if len(shown) <= 120 else shown[:117] + "..."
