"""Deleting what prune renamed into `.releases/trash/`: here and now, or by a detached cleaner,
so that a deploy returns as soon as its switch and history are durable.

Who may delete a trash entry is decided by an flock on the entry itself (a directory
descriptor). Prune takes it right after the rename, still under the deploy root's lock, and
hands the descriptor to whoever deletes the tree: this process, or a cleaner started in a
session of its own that inherits it. The kernel drops the flock when its last holder dies, so
an entry nobody holds was left by a crash (of a prune or of a cleaner): recovery deletes it and
records `prune_interrupted`. Two deleters never work on the same tree, and a running cleaner's
work is never taken for an interrupted prune.

Standard library only: the cleaner runs as `python -S -m releases_cli.core.cleaner`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from releases_cli.core import erase, faults
from releases_cli.core.compat import run_module_argv

if TYPE_CHECKING:
    from subprocess import Popen

log = logging.getLogger(__name__)

LOG_NAME = "cleaner.log"  # in .releases/ (logs/ holds build logs): what the cleaner did
LOG_CAP = 256 << 10  # then renamed to cleaner.log.1: the two stay near 512 KiB (statedir.py)
NICENESS = 10  # background work: the app being served comes first
_ENTRY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Held(NamedTuple):
    """A trash entry this process holds the flock of (`fd`, a descriptor of the entry)."""

    name: str
    fd: int


def claim(trash: int, name: str) -> Held | None:
    """Hold trash entry `name` (a directory, never followed); None when another live process
    holds it, or it is gone. OSError (ELOOP, ENOTDIR) when it is not a real directory."""
    try:
        fd = os.open(name, _ENTRY_FLAGS, dir_fd=trash)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return Held(name, fd)


def delete_held(trash: int, held: Held) -> OSError | None:
    """Delete the tree of a held entry at any depth (core/erase.py: links inside are unlinked,
    never followed), then its name; the flock goes with the descriptor, closed last.

    What cannot be deleted stays, and the error naming it is returned (never raised: nothing
    in the trash may fail the command that empties it). The next empty_trash retries it;
    `releases doctor` reports it."""
    try:
        erase.clear(held.fd, shown(held.name), _mid_clean)
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(held.name, dir_fd=trash)
    except OSError as error:
        return error
    finally:
        os.close(held.fd)
    return None


def _mid_clean() -> None:
    faults.point("mid_clean")  # a cleaner killed with the tree half deleted


def shown(name: str) -> str:
    """A trash entry as messages name it (escaped: its name may be anything)."""
    return f"trash/{erase.escaped(name)}"


def not_deleted(error: OSError) -> str:
    """The one line saying a trash entry stays."""
    return f"could not delete {error}; left in .releases/trash (see `releases doctor`)"


def release(held: tuple[Held, ...]) -> None:
    """Give up entries without deleting them (an error between prune and the deletion: the
    next command's recovery deletes them, as after a crash)."""
    for entry in held:
        with contextlib.suppress(OSError):
            os.close(entry.fd)


def delete_now(trash_dir: Path, held: tuple[Held, ...]) -> None:
    """Delete held entries in this process (`releases prune`: it returns with the space free)."""
    if not held:
        return
    try:
        trash = os.open(trash_dir, _ENTRY_FLAGS)
    except OSError:
        release(held)  # the trash was swapped since prune renamed into it: recovery's turn
        return
    try:
        for entry in held:
            error = delete_held(trash, entry)
            if error is not None:
                log.warning("%s", not_deleted(error))
    finally:
        os.close(trash)


def detach(trash_dir: Path, log_fd: int | None, held: tuple[Held, ...]) -> int | None:
    """Start a cleaner in a session of its own that deletes the held entries, and give them up
    here; return its pid. When it cannot be started, delete here (None).

    The cleaner gets the entries' descriptors (so the flocks pass to it without a gap), stdin
    and stdout on /dev/null and stderr on `log_fd` (nothing of a terminal or an ssh session, so
    neither waits for it; no SIGHUP or Ctrl-C of the caller's terminal reaches it)."""
    if not held:
        return None
    import subprocess

    package_parent = str(Path(__file__).resolve().parent.parent.parent)
    pythonpath = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    # No cwd on sys.path (run_module_argv) and cwd "/": `-m` would otherwise put the caller's
    # cwd first on sys.path, and a `releases_cli/` there (a release's content, when run from
    # inside `current`) would be imported instead of ours. A cwd in a release would also mark
    # that release in use.
    argv = [sys.executable, "-S", *run_module_argv(__name__), str(trash_dir)]
    argv += [f"{entry.name}:{entry.fd}" for entry in held]
    try:
        if not sys.executable:
            raise OSError("no interpreter to start a cleaner with")
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_fd if log_fd is not None else subprocess.DEVNULL,
            pass_fds=[entry.fd for entry in held],
            start_new_session=True,
            cwd="/",
            env={**os.environ, "PYTHONPATH": pythonpath},
        )
    except OSError:
        delete_now(trash_dir, held)
        return None
    release(held)
    _children.append(process)  # reaped by poll() later: no zombie in a long-lived caller
    _children[:] = [child for child in _children if child.poll() is None]
    return process.pid


_children: list[Popen[bytes]] = []


def wait_for_cleaners(trash_dir: Path) -> None:
    """Return once no cleaner holds an entry of the trash (what a test, or a script that needs
    the space back, waits for)."""
    try:
        trash = os.open(trash_dir, _ENTRY_FLAGS)
    except FileNotFoundError:
        return
    try:
        for name in os.listdir(trash):
            try:
                fd = os.open(name, _ENTRY_FLAGS, dir_fd=trash)
            except OSError:
                continue  # gone meanwhile, or not a directory: nobody holds it
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)  # blocks while a cleaner holds the entry
            finally:
                os.close(fd)
    finally:
        os.close(trash)


def unheld(trash_dir: Path) -> list[str]:
    """The trash entries no live process holds (read-only: `releases doctor`). Each is one a
    crash left, which the next state-changing command deletes, or one a deletion had to leave.
    Entries that are not real directories are never held, so they count too."""
    try:
        trash = os.open(trash_dir, _ENTRY_FLAGS)
    except FileNotFoundError:
        return []
    try:
        return sorted(name for name in os.listdir(trash) if not _held(trash, name))
    finally:
        os.close(trash)


def _held(trash: int, name: str) -> bool:
    try:
        fd = os.open(name, _ENTRY_FLAGS, dir_fd=trash)
    except FileNotFoundError:
        return True  # gone meanwhile: its deleter finished
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def main(argv: list[str]) -> int:
    """The detached cleaner: `TRASH NAME:FD...`, the descriptors inherited already locked."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    trash_dir, *pairs = argv
    held = [Held(name, int(fd)) for name, _, fd in (pair.rpartition(":") for pair in pairs)]
    trash = os.open(trash_dir, _ENTRY_FLAGS)
    for entry in held:
        started = time.monotonic()
        done = os.dup(entry.fd)  # the flock stays held until the line below is written
        error = delete_held(trash, entry)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        seconds = time.monotonic() - started
        who = f"cleaner pid {os.getpid()} (session {os.getsid(0)})"
        what = not_deleted(error) if error else f"deleted {shown(entry.name)} in {seconds:.2f}s"
        print(f"{stamp} {who}: {what}", file=sys.stderr)
        sys.stderr.flush()
        os.close(done)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
