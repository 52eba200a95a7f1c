"""Temp files of atomic writes: one naming scheme, and the removal of those whose writer is gone.

A file replaced atomically is first written to `.<name>.tmp-<pid>-<8 hex>` beside it, then
renamed over it. A SIGKILL or power cut between the two leaves the temp file behind. Nothing
reads one as state (readers open fixed names), and it is removed once its writer is gone: the
writer's pid (in the name) is no live process, and no process holds an flock on the file (a
writer in another pid namespace, or one that locks its temp as `releases pack` does, keeps
it). Who removes: the next atomic write of the same file, and recovery for `.releases/`.

A scratch directory (`releases pack`'s build root in $TMPDIR) follows the same rule:
`<prefix>-<pid>-<8 hex>`, flock'd while in use, and the next one made removes those whose
process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from releases_cli.core.compat import rmtree_at

_MARK = ".tmp-"
_NONCE_LEN = 8  # hex digits
_HEX = frozenset("0123456789abcdef")
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def temp_name(name: str) -> str:
    """A fresh temp name for a write that replaces `name` (unique: pid and a random nonce)."""
    # os.urandom, not secrets: importing secrets loads hashlib/hmac on every command.
    return f".{name}{_MARK}{os.getpid()}-{os.urandom(_NONCE_LEN // 2).hex()}"


def parse(entry: str) -> tuple[str, int] | None:
    """(the name it was to replace, the writer's pid) of a temp name, else None."""
    if not entry.startswith("."):
        return None
    name, mark, tail = entry[1:].rpartition(_MARK)
    pid = _pid_of(tail)
    return (name, pid) if name and mark and pid is not None else None


def _pid_of(tail: str) -> int | None:
    """The pid of a `<pid>-<8 hex>` name tail, else None."""
    pid, dash, nonce = tail.partition("-")
    if not (dash and pid.isascii() and pid.isdigit()):
        return None
    return int(pid) if len(nonce) == _NONCE_LEN and _HEX.issuperset(nonce) else None


def create(directory: Path, name: str, mode: int = 0o600) -> tuple[int, Path]:
    """Create a temp file for `directory/name` (never through a link), its flock held until
    the descriptor is closed: while the writer lives nobody removes it, whatever its pid
    looks like from where they are."""
    while True:
        path = directory / temp_name(name)
        try:
            fd = os.open(
                path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode
            )
        except FileExistsError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)  # a new file: nobody else can hold it
        return fd, path


def stale(dir_fd: int, owner: str | None = None) -> list[str]:
    """The temp files in `dir_fd` whose writer is gone (only those of `owner`, the file they
    were to replace, when given). Directories are never among them."""
    found = []
    for entry in os.listdir(dir_fd):
        parsed = parse(entry)
        if parsed is None or (owner is not None and parsed[0] != owner):
            continue
        if not (writer_alive(parsed[1]) or _held(dir_fd, entry)):
            found.append(entry)
    return found


def remove_stale(dir_fd: int, owner: str | None = None) -> list[str]:
    """Remove the `stale` temp files in `dir_fd` (a link there is removed, never followed);
    return their names."""
    removed = []
    for entry in stale(dir_fd, owner):
        # Gone already, a directory, or not ours to remove (another user's, in a sticky
        # directory): left alone; it must never fail the write or the recovery that called us.
        with contextlib.suppress(OSError):
            os.unlink(entry, dir_fd=dir_fd)
            removed.append(entry)
    return removed


def remove_stale_beside(path: Path) -> list[str]:
    """`remove_stale` for the temps of `path` in its directory (nothing when it is gone)."""
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        return remove_stale(dir_fd, path.name)
    finally:
        os.close(dir_fd)


def writer_alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie is not: it will never rename anything)."""
    if pid <= 0:
        return True  # not a pid a writer has: leave it to a person
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except OverflowError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as proc:
            fields = proc.read().rpartition(b")")[2].split()
    except OSError:
        return True
    return fields[:1] != [b"Z"]


def _held(dir_fd: int, entry: str) -> bool:
    """Whether a live process holds an flock on `entry`. A directory counts as held (it is
    never removed as a temp file); a link, FIFO or device is not opened at all."""
    try:
        mode = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(mode):
        return stat.S_ISDIR(mode)  # a link or FIFO is nobody's temp file: remove the name
    try:
        fd = os.open(entry, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        return error.errno not in (errno.ELOOP, errno.ENOENT)  # swapped for a link, or gone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


@contextlib.contextmanager
def scratch_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A new directory `parent/<prefix>-<pid>-<8 hex>`, held (flock on a descriptor of it)
    until the block ends, then deleted. Made after removing the scratch directories of
    `prefix` in `parent` that a killed process left: this user's, pid dead, nobody holding it."""
    _remove_stale_dirs(parent, prefix)
    while True:
        path = parent / f"{prefix}-{os.getpid()}-{os.urandom(_NONCE_LEN // 2).hex()}"
        try:
            os.mkdir(path, 0o700)
            break
        except FileExistsError:
            continue
    fd = os.open(path, _DIR_FLAGS)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _remove_stale_dirs(parent: Path, prefix: str) -> None:
    try:
        parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        for entry in os.listdir(parent_fd):
            pid = _pid_of(entry[len(prefix) + 1 :]) if entry.startswith(f"{prefix}-") else None
            if pid is not None and not writer_alive(pid) and _claim_dir(parent_fd, entry):
                rmtree_at(entry, parent_fd, ignore_errors=True)
    finally:
        os.close(parent_fd)


def _claim_dir(parent_fd: int, entry: str) -> bool:
    """Whether `entry` is a real directory of this user that nobody holds (links and other
    users' directories are never removed)."""
    try:
        fd = os.open(entry, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError:
        return False
    try:
        if os.fstat(fd).st_uid != os.geteuid():
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True
