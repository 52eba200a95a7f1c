"""The atomic switch: the only code that changes `current`.

`current` is replaced by rename(2) of a freshly made, uniquely named temp symlink, then the root
directory is fsync'd. At no instant is `current` missing or dangling. A temp link left by an
interrupted switch is never reused (a new name is made with O_EXCL semantics) and is cleaned up.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from releases_cli.core import faults
from releases_cli.core.errors import UnsafeState
from releases_cli.core.fs import fsync_dir
from releases_cli.core.layout import TEMP_LINK_PREFIX, DeployRoot, require_current_is_link

log = logging.getLogger(__name__)


def switch_to(root: DeployRoot, release_id: str) -> None:
    """Point `current` at releases/<release_id> atomically and durably."""
    require_current_is_link(root)
    target = Path("releases") / release_id
    if not (root.path / target).is_dir():
        raise UnsafeState(f"refusing to switch to {release_id}: {root.path / target} is missing")
    while True:
        tmp = root.path / f"{TEMP_LINK_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"
        try:
            os.symlink(target, tmp)  # fails if the name exists: a leftover is never reused
            break
        except FileExistsError:
            continue
    faults.point("after_temp_link")
    try:
        os.replace(tmp, root.current)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(root.path)
    log.debug("current -> %s (renamed from %s, root fsync'd)", target, tmp.name)


def remove_temp_links(root: DeployRoot) -> list[str]:
    """Delete temp links left by an interrupted switch; return their names."""
    removed = []
    for link in root.temp_links():
        link.unlink(missing_ok=True)
        removed.append(link.name)
    if removed:
        fsync_dir(root.path)
        log.warning("removed %d temp link(s) left by an interrupted switch", len(removed))
    return removed


def remove_current(root: DeployRoot) -> None:
    """Remove the `current` link (only ever a link), durably: used when the very first release
    fails its health check, so no failed release stays current and nothing was live before."""
    require_current_is_link(root)
    root.current.unlink(missing_ok=True)
    fsync_dir(root.path)
