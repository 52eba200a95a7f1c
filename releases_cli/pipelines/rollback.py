"""Rollback: point `current` back at a kept, complete release. No copy, no rebuild."""

from __future__ import annotations

import time
from typing import NamedTuple

from releases_cli.config import MigrationsConfig
from releases_cli.core.clock import Clock, utc_now
from releases_cli.core.errors import NotFound
from releases_cli.core.events import SwitchReason
from releases_cli.core.ids import validate_id
from releases_cli.core.layout import DeployRoot, require_current_is_link
from releases_cli.core.recovery import exclusive
from releases_cli.core.report import Report
from releases_cli.core.state import Snapshot
from releases_cli.pipelines.migrations import check_rollback
from releases_cli.pipelines.publish import LiveOptions, publish
from releases_cli.serving.strategy import Activation


class RollbackResult(NamedTuple):
    id: str
    previous: str | None
    seconds: float


def choose_target(snap: Snapshot, to: str | None) -> str:
    """The release to roll back to; raises (changing nothing) when there is none or it is bad."""
    if to is not None:
        return snap.target(to, "roll back to").id
    if snap.previous is None:
        raise NotFound("nothing to roll back to: no earlier complete release was ever live")
    return snap.previous


def _quiet(_message: str) -> None:
    return None


def rollback(
    root: DeployRoot,
    to: str | None = None,
    wait: float = 0,
    clock: Clock = utc_now,
    live: LiveOptions | None = None,
    report: Report = _quiet,
    message: str | None = None,
    migrations: MigrationsConfig | None = None,
    force: bool = False,
) -> RollbackResult:
    """Switch `current` to `to`, or to the release live before the current one; then restart
    the app and check its health when configured. Allowed while frozen (the emergency path);
    a target whose migrations differ from the live release's warns, or is refused without
    `force` under `migrations.rollback = "refuse"`."""
    if to is not None:
        validate_id(to)
    root.require_initialized()
    started = time.monotonic()
    # use_reserve: on a full disk, rollback spends the space kept back for it (reserve.py).
    with exclusive(root, wait, clock, report, use_reserve=True) as recovered:
        previous = require_current_is_link(root).release_id
        target = choose_target(recovered.snapshot, to)
        settings = migrations or MigrationsConfig()
        check_rollback(recovered.snapshot, target, settings, force, report)
        act = Activation(root, target, previous, clock, report)
        seconds = publish(act, live or LiveOptions(), SwitchReason.ROLLBACK, started, message)
    return RollbackResult(target, previous, seconds)
