""".releases/ is data: nothing under it is ever followed, read unbounded, or written through.

Two kinds of entries, two rules (docs/state.md "Damaged or planted state"):

- The layout: `.releases/` itself and its fixed entries (meta/, logs/, trash/, repo.git/,
  history.jsonl, lock, lock.info, reserve). A symlink or an entry of the wrong type there is
  refused: every state-changing command stops with exit 7 before it takes the lock, naming the
  entry and the fix. Replacing it would throw away what it points at (an empty meta/ makes
  every release look incomplete, and prune deletes incomplete releases); following it would
  write outside the root (a release renamed into a linked trash leaves the root, emptying the
  trash deletes elsewhere). Read-only
  commands warn and read around it.
- Per-release entries (meta/<id>.json, logs/<id>.log, trash/<entry>): one release's record. A
  link there is never opened: reading reports it as a damaged file, writing replaces the link
  itself (rename over it, or unlink then create), the trash unlinks it. Refusing would let one
  planted link block every deploy and rollback; the link never held anything of ours.

Everything is opened relative to a descriptor of `.releases/` taken with O_NOFOLLOW, so a link
swapped in for a directory between a check and a use is not followed either.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from releases_cli.core import leftovers, safefs
from releases_cli.core.errors import UnsafeState

STATE_DIR = ".releases"
FREEZE_FILE = "freeze.json"  # the deploy freeze (core/freeze.py)
# Entries of .releases/ the tool makes, and the kind each must be.
LAYOUT_DIRS = ("meta", "logs", "trash", "repo.git", "serve")
LAYOUT_FILES = (
    *("history.jsonl", "lock", "lock.info", "reserve", FREEZE_FILE, "pack-work"),
    *("cleaner.log", "cleaner.log.1"),  # the detached cleaner's log, and the one rotated out
)
# Directories of .releases/ whose files are replaced atomically (temp + rename).
_ATOMIC_DIRS = ((), ("meta",), ("serve",))
# Entries that hold nothing worth keeping: the fix is to remove them.
_DISPOSABLE = frozenset({"trash", "lock", "lock.info", "reserve", "cleaner.log", "cleaner.log.1"})
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


class StateFileError(ValueError):
    """A state file that cannot be read as data: a link, not a regular file, or too large."""


class StateProblem(NamedTuple):
    """A layout entry that is not what the tool made."""

    path: Path
    message: str  # what is wrong, naming the path
    fix: str  # the command that puts it right

    def __str__(self) -> str:
        return f"{self.message}; fix: {self.fix}"


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "a special file"


def _problem(path: Path, mode: int, want_dir: bool, disposable: bool) -> StateProblem | None:
    if stat.S_ISDIR(mode) if want_dir else stat.S_ISREG(mode):
        return None
    want = "a directory" if want_dir else "a regular file"
    if stat.S_ISLNK(mode):
        target = os.readlink(path)
        message = f"{path} is a symlink (to {target}); releases never follows links in .releases/"
        restore = f"rm {path} && mv {target} {path}"
        fix = (
            f"rm {path}"
            if disposable
            else f"{restore} (or just `rm {path}` if you did not make it)"
        )
        return StateProblem(path, message, fix)
    message = f"{path} is {_kind(mode)}, not {want}"
    return StateProblem(path, message, f"mv {path} {path}.bad (look inside, then remove it)")


def layout_problems(state: Path) -> list[StateProblem]:
    """Every layout entry of the state directory `state` that is a link or of the wrong kind
    (missing entries are fine: they are made when needed)."""
    try:
        mode = os.lstat(state).st_mode
    except FileNotFoundError:
        return []
    found = _problem(state, mode, want_dir=True, disposable=False)
    if found is not None:
        return [found]
    problems = []
    for names, want_dir in ((LAYOUT_DIRS, True), (LAYOUT_FILES, False)):
        for name in names:
            path = state / name
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                continue
            problem = _problem(path, mode, want_dir, name in _DISPOSABLE)
            if problem is not None:
                problems.append(problem)
    return problems


def require_sound_layout(state: Path) -> None:
    """Refuse (UnsafeState, exit 7, nothing touched) when a layout entry is planted or wrong."""
    problems = layout_problems(state)
    if problems:
        more = (
            f" (and {len(problems) - 1} more: run `releases doctor`)" if len(problems) > 1 else ""
        )
        raise UnsafeState(f"{problems[0]}{more}")


def open_dir(state: Path, *parts: str) -> int:
    """A descriptor of `state`/parts... (the caller closes it). FileNotFoundError when absent;
    StateFileError, naming it, when one of them is a link or not a directory."""
    try:
        return safefs.open_dir(state.parent, "/".join((state.name, *parts)), follow_base=True)
    except safefs.UnsafePath as error:
        raise StateFileError(str(error)) from None


@contextmanager
def opened_dir(state: Path, *parts: str) -> Iterator[int]:
    fd = open_dir(state, *parts)
    try:
        yield fd
    finally:
        os.close(fd)


def read_at(dir_fd: int, name: str, limit: int | None, shown: Path | str) -> bytes:
    """The bytes of regular file `name` in `dir_fd`, never following a link and never blocking
    on a FIFO. FileNotFoundError when absent; StateFileError (naming `shown`) when it is a link,
    not a regular file, or larger than `limit`."""
    try:
        return safefs.read_file(dir_fd, name, sys.maxsize if limit is None else limit)
    except safefs.UnsafePath as error:
        raise StateFileError(f"{shown} {error.strerror}") from None


def read_state_file(state: Path, *parts: str, limit: int | None = None) -> bytes:
    """`read_at` for one file under `state` (every directory on the way opened without
    following links): a linked directory on the way is a StateFileError too."""
    *dirs, name = parts
    with opened_dir(state, *dirs) as fd:
        return read_at(fd, name, limit, state.joinpath(*parts))


def open_append(path: Path) -> int:
    """A write descriptor appending to the per-release file `path` (a build log). A link, FIFO
    or other non-regular entry there is replaced by a new regular file, never written through;
    a directory fails as the OS says (IsADirectoryError)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | _NOFOLLOW
    for _ in range(3):
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            mode = stat.S_IFREG
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            path.unlink(missing_ok=True)  # unlink removes the link itself, never its target
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENXIO):
                continue  # swapped for a link or FIFO since the lstat: replace it again
            raise
        os.set_blocking(fd, True)
        return fd
    raise UnsafeState(f"{path} keeps being replaced by a link; refusing to write to it")


def write_leftovers(state: Path, remove: bool = False) -> list[Path]:
    """The temp files that writes killed before their rename left in `state` (see
    core/leftovers.py); with `remove` (the caller holds the lock), removed. A directory that is
    missing, a link or not a directory is skipped: the layout check reports it."""
    found = []
    for parts in _ATOMIC_DIRS:
        try:
            with opened_dir(state, *parts) as fd:
                names = leftovers.remove_stale(fd) if remove else leftovers.stale(fd)
        except (OSError, StateFileError):
            continue
        found += [state.joinpath(*parts, name) for name in names]
    return found


def open_capped_log(state: Path, name: str, cap: int) -> int:
    """An append descriptor of the log `state/name`, opened relative to a descriptor of
    `state` and never through a link (StateFileError: a link or not a regular file there).
    A log of `cap` bytes or more is first renamed to `name.1` (replacing the one before), so
    the two together stay near 2 x `cap` (plus what writers that opened it before add).
    Rotating is serialized by an flock on the log itself; the name is checked again under it,
    so concurrent openers rotate once."""
    with opened_dir(state) as dir_fd:
        fd = _open_log_at(dir_fd, name, state / name)
        if os.fstat(fd).st_size < cap:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, dir_fd, name) and os.fstat(fd).st_size >= cap:
                try:
                    os.rename(name, f"{name}.1", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                except OSError:
                    os.ftruncate(fd, 0)  # `name.1` cannot be replaced: the cap holds all the same
                    # The descriptor outlives us (a cleaner's stderr): its flock must not.
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # its flock goes with it: someone who waited reopens the name too
        return _open_log_at(dir_fd, name, state / name)


def _open_log_at(dir_fd: int, name: str, shown: Path) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | _NOFOLLOW
    try:
        fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise StateFileError(f"{shown} is not a regular file; not writing to it") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StateFileError(f"{shown} is not a regular file; not writing to it")
    os.set_blocking(fd, True)
    return fd


def _same_file(fd: int, dir_fd: int, name: str) -> bool:
    with contextlib.suppress(OSError):
        named = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        mine = os.fstat(fd)
        return (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)
    return False
