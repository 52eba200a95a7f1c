"""`releases freeze` / `unfreeze`: the freeze state (core/freeze.py) changed under the lock, then
recorded in the history."""

from __future__ import annotations

from releases_cli.core import faults
from releases_cli.core.clock import Clock, utc_now
from releases_cli.core.events import Freeze, Unfreeze, record
from releases_cli.core.freeze import FreezeState, read_freeze, remove_freeze, write_freeze
from releases_cli.core.layout import DeployRoot
from releases_cli.core.recovery import exclusive
from releases_cli.core.report import Report


def _quiet(_message: str) -> None:
    return None


def freeze(
    root: DeployRoot, message: str, wait: float = 0, clock: Clock = utc_now, report: Report = _quiet
) -> FreezeState:
    """Freeze deploys with `message` (freezing again replaces the note). The state is written
    before its history line: a crash between them leaves the freeze in force, unrecorded."""
    root.require_initialized()
    with exclusive(root, wait, clock, report):
        state = write_freeze(root, message, clock)
        faults.point("after_freeze_write")
        record(root, Freeze(message), clock)
    return state


def unfreeze(
    root: DeployRoot, wait: float = 0, clock: Clock = utc_now, report: Report = _quiet
) -> FreezeState | None:
    """Lift the freeze; the freeze that was lifted, or None when there was none."""
    root.require_initialized()
    with exclusive(root, wait, clock, report):
        state = read_freeze(root)
        if state is None:
            return None
        remove_freeze(root)
        faults.point("after_unfreeze")
        record(root, Unfreeze(state.by, state.message), clock)
    return state
