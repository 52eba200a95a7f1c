"""Named fault-injection points for the crash tests.

`RELEASES_FAULT=<point>` makes the process SIGKILL itself when it reaches that point, which is
exactly what a power cut or OOM kill looks like to the deploy root. `RELEASES_FAULT=<ERRNO>:<name>`
(e.g. `ENOSPC:history.jsonl`, `EIO:*.json`) makes our crash-safe writes of files so named fail
the way a full or failing disk makes them fail. Several faults are separated by commas (a full
disk, then a crash: `ENOSPC:history.jsonl,mid_prune`). Unset in production: one dictionary
lookup per point.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import signal
from pathlib import Path

POINTS = (
    "after_mkdir",  # release directory made, nothing copied yet
    "mid_export",  # part of the source copied
    "mid_link",  # part of the previous release's node_modules hardlinked into the new one
    "after_prepare",  # shared files linked and build cache copied, build not yet started
    "mid_build",  # build commands started
    "after_complete",  # meta says complete, `current` not yet switched
    "after_temp_link",  # temp symlink made, not yet renamed over `current`
    "after_switch",  # `current` switched, history not yet written
    "after_restart",  # restart command done, health not yet checked
    "after_mark_failed",  # an unhealthy release marked failed, `current` not yet switched back
    "after_switch_back",  # switched back from a failed release, history not yet written
    "mid_prune",  # a release renamed into the trash, not yet deleted
    "mid_clean",  # the cleaner deleted part of a trash entry (cleaner.py)
    "mid_share",  # static-share manifest written, one earlier build's file linked of several
    "mid_forget",  # a pruned build's files unlinked from a kept release, its manifest not rewritten
    "rollback_after_switch",  # rollback switched `current`, history not yet written
    "after_freeze_write",  # freeze.json written, its history line not yet
    "after_unfreeze",  # freeze.json removed, its history line not yet
    "after_freeze_override",  # a forced command recorded the override, did nothing else yet
    "after_pin_write",  # a pin/unpin rewrote the meta, its history line not yet
    "serve_after_start",  # blue-green: a release's app started (state: starting), not checked
    "serve_after_state",  # blue-green: state says the new live release, include not renamed
    "serve_after_include",  # blue-green: include renamed, `current` not switched
    "serve_after_current",  # blue-green: `current` switched, nginx not reloaded
    "serve_after_drain",  # blue-green: an expired app dropped from nginx, not yet stopped
    "serve_after_revive",  # blue-green: `up` started an app PM2 had lost, not checked
    "after_pack_write",  # `releases pack` wrote and fsync'd its artifact's temp, not renamed
)
# `mid_write:<file name pattern>` (e.g. `mid_write:*.json`): an atomic write's temp file is
# written and fsync'd, not yet renamed over the file.
MID_WRITE_PREFIX = "mid_write:"
# `torn:<event>` (e.g. `torn:switch`): power cut halfway through appending that history event.
TORN_PREFIX = "torn:"
# `<ERRNO>:<file name pattern>`: writes of matching files fail with that error.
IO_ERRORS = {"ENOSPC": errno.ENOSPC, "EIO": errno.EIO, "EDQUOT": errno.EDQUOT}


def _faults() -> list[str]:
    value = os.environ.get("RELEASES_FAULT")
    return value.split(",") if value else []


def point(name: str) -> None:
    """Die here (SIGKILL, no cleanup) when RELEASES_FAULT names this point."""
    if name in _faults():
        os.kill(os.getpid(), signal.SIGKILL)


def mid_write(path: Path) -> None:
    """Die here when RELEASES_FAULT is `mid_write:<pattern>` and `path`'s name matches."""
    for fault in _faults():
        if fault.startswith(MID_WRITE_PREFIX) and fnmatch.fnmatchcase(
            path.name, fault[len(MID_WRITE_PREFIX) :]
        ):
            os.kill(os.getpid(), signal.SIGKILL)


def torn_append(event: str, path: Path, line: str) -> None:
    """When RELEASES_FAULT is `torn:<event>`: append the first half of `line` (no newline) and
    die, which is what a power cut mid-append can leave at the end of the history."""
    if TORN_PREFIX + event not in _faults():
        return
    with open(path, "ab") as torn:
        torn.write(line.encode()[: len(line) // 2])
        torn.flush()
        os.fsync(torn.fileno())
    os.kill(os.getpid(), signal.SIGKILL)


def io_error(path: Path) -> None:
    """Raise OSError when RELEASES_FAULT is `<ERRNO>:<pattern>` and `path`'s name matches."""
    for fault in _faults():
        name, _, pattern = fault.partition(":")
        code = IO_ERRORS.get(name)
        if code is not None and fnmatch.fnmatchcase(path.name, pattern):
            raise OSError(code, os.strerror(code), str(path))
