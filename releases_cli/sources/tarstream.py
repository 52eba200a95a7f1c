"""Extract the tar stream of `git archive` (or of a release artifact) into a release directory,
safely and in one pass.

Streaming (no temporary archive on disk), and stricter than `tar -x`: every entry must be a
relative path without `..`, inside a directory this extraction created itself, so nothing can be
written outside the release or through a symlink. Only directories, regular files and symlinks
are made (all `git archive` produces); modes keep the executable bit (the umask applies, as
with `tar -x` run by a normal user) and mtimes are the commit time, as `git archive` sets them.
"""

from __future__ import annotations

import os
import posixpath
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from releases_cli.core import faults
from releases_cli.core.erase import elided
from releases_cli.core.errors import SourceFailed
from releases_cli.core.tree import MAX_DEPTH

WORKERS = 4
_IN_FLIGHT_FILES = 256  # files read but not yet written: bounds memory...
_IN_FLIGHT_BYTES = 64 << 20  # ...also in bytes
_WHOLE_FILE = 8 << 20  # a file up to this size is read whole and written by a worker
_CHUNK = 1 << 20  # a larger one is copied in chunks of this size, never held whole
_MAX_PAX = 1 << 20  # a pax header beyond this is not something git or pack writes
BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
DIR, SYMLINK, PAX_LOCAL, PAX_GLOBAL = b"5", b"2", b"x", b"g"
FILE = (b"0", b"\0", b"7")  # regular (7: contiguous, treated as regular by every tar)


class Readable(Protocol):
    """What extraction reads from: a pipe, a file, a decompressor."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class Entry:
    """One tar member: only what `git archive` writes (ustar, with pax for long values)."""

    name: str
    kind: bytes  # DIR, FILE or SYMLINK (anything else is skipped)
    mode: int
    size: int
    mtime: int
    linkname: str


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
        while self._left:
            chunk = _exactly(self._read, min(self._left, _CHUNK))
            self._left -= len(chunk)
            yield chunk

    def skip(self) -> None:
        for _ in self.chunks():
            pass


def entries(read: Callable[[int], bytes]) -> Iterator[tuple[Entry, Body]]:
    """Parse a tar stream: (entry, body) per member; the body must be used before the next
    entry is asked for. tarfile.open("r|") does the same with a per-member cost that was most
    of an export's CPU time."""
    pax: dict[str, str] = {}
    while True:
        header = _exactly(read, BLOCK)
        if header == ZERO_BLOCK:
            return
        if header[257:262] != b"ustar":
            raise SourceFailed("the archive is not a ustar tar archive")
        size = _size(pax.get("size")) if "size" in pax else _octal(header[124:136])
        kind = header[156:157]
        body = Body(read, size)
        if kind in (PAX_GLOBAL, PAX_LOCAL):
            if size > _MAX_PAX:
                raise SourceFailed(f"a pax header of {size} bytes in the archive")
            records = body.whole()
            _exactly(read, -size % BLOCK)
            if kind == PAX_LOCAL:
                pax = _pax_records(records)
            continue
        prefix = _text(header[345:500])
        name = pax.get("path") or (f"{prefix}/" if prefix else "") + _text(header[0:100])
        yield (
            Entry(
                name=name,
                kind=kind,
                mode=_octal(header[100:108]),
                size=size,
                mtime=int(float(pax.get("mtime") or _octal(header[136:148]))),
                linkname=pax.get("linkpath") or _text(header[157:257]),
            ),
            body,
        )
        body.skip()
        _exactly(read, -size % BLOCK)
        pax = {}


def _size(text: str | None) -> int:
    try:
        size = int(text or "")
    except ValueError:
        raise SourceFailed(f"bad size {text!r} in a pax header") from None
    if size < 0:
        raise SourceFailed(f"bad size {text!r} in a pax header")
    return size


def _exactly(read: Callable[[int], bytes], count: int) -> bytes:
    data = read(count) if count else b""
    while len(data) < count:
        more = read(count - len(data))
        if not more:
            raise SourceFailed("the archive ended early")
        data += more
    return data


def _octal(field: bytes) -> int:
    digits = field.strip(b"\0 ")
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        raise SourceFailed(f"bad number {field!r} in a tar header") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax_records(data: bytes) -> dict[str, str]:
    """`<length> <key>=<value>\\n` records (POSIX pax)."""
    records = {}
    at = 0
    while at < len(data):
        space = data.index(b" ", at)
        length = int(data[at:space])
        key, _, value = data[space + 1 : at + length - 1].partition(b"=")
        records[key.decode()] = value.decode("utf-8", "surrogateescape")
        at += length
    return records


def extract_stream(stream: Readable, dest: Path, workers: int = WORKERS) -> int:
    """Extract the uncompressed tar read from `stream` into the existing directory `dest`.

    The stream is parsed and checked in this thread; files are written by a few worker
    threads (file creation is syscall-bound and releases the GIL, so this beats `tar -x`,
    which writes one file at a time). Returns the number of regular files written. Raises
    SourceFailed on an unsafe or broken archive (the caller marks the release failed).
    """
    made_dirs: dict[str, int] = {"": 0}  # relative dir -> mtime, so mtimes are set last
    files = 0
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="extract") as pool:
            pending: deque[tuple[Future[None], int]] = deque()
            in_flight = 0
            for entry, body in entries(stream.read):
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


def _safe_name(raw: str, made_dirs: dict[str, int]) -> str:
    name = raw.rstrip("/")
    parts = name.split("/")
    if len(parts) > MAX_DEPTH:  # the copy's limit; also keeps paths far from PATH_MAX
        where = elided(parts)
        raise SourceFailed(f"refusing archive entry {where}: nested deeper than {MAX_DEPTH} levels")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise SourceFailed(f"refusing archive entry {raw!r}: not a plain relative path")
    if posixpath.dirname(name) not in made_dirs:
        raise SourceFailed(f"refusing archive entry {raw!r}: its directory is not in the archive")
    return name
