"""Crash-safe file primitives: fsync'd atomic writes and appends; the modes state is made with.

State (`.releases/`, the layout directories, the git mirror) is never group- or
world-writable, whatever the umask: files are made 0644 and directories 0755, both less the
umask, so a stricter umask still applies and a looser one (000) never opens them up.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from releases_cli.core import faults, leftovers
from releases_cli.core.errors import UnsafeState

DIR_MODE = 0o755  # every directory of state we make (less the umask)
NO_GROUP_WRITE = 0o022


def current_umask() -> int:
    """This process's umask, read without changing it (/proc), else by setting it back."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o077)
    os.umask(old)
    return old


def state_umask() -> int:
    """The umask for children that write state (git in the mirror): ours, never looser than
    022."""
    return current_umask() | NO_GROUP_WRITE


@contextlib.contextmanager
def tightened_umask() -> Iterator[None]:
    """Within the block, files and directories are made at most 0644/0755 (a library that
    creates them with the default modes, e.g. gitpython's `init`, is then safe too)."""
    old = os.umask(state_umask())
    try:
        yield
    finally:
        os.umask(old)


def make_dir(path: Path, exist_ok: bool = False) -> bool:
    """mkdir `path` with DIR_MODE; True when this call made it."""
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if not exist_ok:
            raise
        return False
    return True


def fsync_dir(directory: Path) -> None:
    """Make a rename/create/unlink inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` so readers see the old or the new content, never a torn file;
    `durable`: and it survives a power cut (fsync of the file, then of the directory). Temp
    files an earlier write of `path` left when killed before its rename are removed first."""
    faults.io_error(path)
    leftovers.remove_stale_beside(path)
    tmp = path.with_name(leftovers.temp_name(path.name))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            _write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        faults.mid_write(path)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not also keep a half-written temp file
        raise
    if durable:
        fsync_dir(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    """write(2) until all of `data` is written (a short write is not an error)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def append_line(path: Path, line: str) -> None:
    """Append one line with a single write(2) on an O_APPEND descriptor, then fsync.

    If a power cut left the file ending in a torn line (no final newline), a newline is written
    first, so the torn line stays one skipped line and never swallows this one. A link planted
    at `path` is never written through (O_NOFOLLOW: it fails instead).
    """
    faults.io_error(path)
    created = not os.path.lexists(path)
    data = (line.rstrip("\n") + "\n").encode()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise UnsafeState(f"{path} is a symlink; refusing to write through it") from None
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)


def sync_tree(path: Path) -> None:
    """Flush everything written under `path` to disk before a release is declared complete.

    syncfs(2) flushes only the filesystem holding `path` in one call (a per-file fsync walk over
    a node_modules tree costs tens of thousands of syscalls); elsewhere fall back to sync(2).
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _syncfs(fd: int) -> int:
    import ctypes  # a costly import, and only a deploy syncs

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        return -1
    result: int = syncfs(fd)
    return result
