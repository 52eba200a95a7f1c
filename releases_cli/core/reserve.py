"""A little disk space kept back for the commands that must work when the disk is full.

`prune` frees space and `rollback` undoes a bad deploy: an operator needs both most when the
filesystem is 100 % full, yet both write (history lines, a meta file, a static-share manifest),
and on a full disk those writes fail with ENOSPC. So a deploy that ends with room to spare
leaves `.releases/reserve` (RESERVE_BYTES of zeros, really allocated), and a command that must
work on a full disk deletes it first when less than that is free. The reserve comes back with
the next command that ends with enough room. Everything here is best effort: a reserve that
cannot be made or read never fails a command.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from releases_cli.core.fs import atomic_write
from releases_cli.core.layout import DeployRoot

log = logging.getLogger(__name__)

RESERVE_BYTES = 1 << 20  # a prune or rollback writes a few KiB; a manifest rewrite can be more
NAME = "reserve"


def reserve_path(root: DeployRoot) -> Path:
    return root.state / NAME


def free_bytes(directory: Path) -> int | None:
    """Bytes an unprivileged process may still write on `directory`'s filesystem."""
    try:
        info = os.statvfs(directory)
    except OSError:
        return None
    return info.f_bavail * info.f_frsize


def _is_reserve(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def ensure(root: DeployRoot) -> bool:
    """Make the reserve when it is missing and the disk has room for it twice over; True when
    a reserve is in place afterwards."""
    path = reserve_path(root)
    if _is_reserve(path):
        return True
    free = free_bytes(root.state)
    if free is None or free < 2 * RESERVE_BYTES or os.path.lexists(path):
        return False  # no room to spare, or something else sits there: leave it alone
    try:
        atomic_write(path, bytes(RESERVE_BYTES))
    except OSError as error:
        log.debug("no disk-space reserve made: %s", error)
        return False
    return True


def release_if_low(root: DeployRoot) -> bool:
    """Delete the reserve when less than RESERVE_BYTES are free (never follows a link there);
    True when space was given back."""
    path = reserve_path(root)
    free = free_bytes(root.state)
    if free is None or free >= RESERVE_BYTES or not _is_reserve(path):
        return False
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    log.warning(
        "the disk is full (%d KiB free): released the %d KiB reserve in %s so this command "
        "can record what it does",
        free // 1024,
        RESERVE_BYTES // 1024,
        root.state,
    )
    return True
