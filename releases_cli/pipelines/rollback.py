"""Rollback: point `current` back at a kept, complete release. No copy, no rebuild."""

from __future__ import annotations

import contextlib
import time
from typing import NamedTuple

from releases_cli.config import MigrationsConfig
from releases_cli.core import faults, interrupts
from releases_cli.core.clock import Clock, utc_now
from releases_cli.core.current import switch_to
from releases_cli.core.errors import HealthFailed, NotFound, describe_os_error
from releases_cli.core.events import RollbackUnhealthy, Switch, SwitchReason, record
from releases_cli.core.ids import validate_id
from releases_cli.core.layout import DeployRoot, require_current_is_link
from releases_cli.core.recovery import exclusive
from releases_cli.core.report import Report, Stage, stage
from releases_cli.core.state import Snapshot
from releases_cli.pipelines.golive import LiveOptions, run_on_failure, run_point, verify_live
from releases_cli.pipelines.migrations import check_rollback


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
        live = live or LiveOptions()
        if live.serve is not None:
            from releases_cli.pipelines import bgswitch

            bgswitch.roll_back(root, target, previous, live, clock, report)
            seconds = time.monotonic() - started
            _record_switch(root, target, previous, seconds, clock, report, message)
            run_point(root, live, "after_rollback", target, previous, report)
            return RollbackResult(target, previous, seconds)
        with interrupts.deferred():  # switched and recorded, or neither
            with stage(report, Stage.SWITCH, f"current -> releases/{target}"):
                switch_to(root, target)
                faults.point("rollback_after_switch")
            seconds = time.monotonic() - started
            _record_switch(root, target, previous, seconds, clock, report, message)
        _after_switch(root, live, target, previous, clock, report)
    return RollbackResult(target, previous, seconds)


def _record_switch(
    root: DeployRoot,
    target: str,
    previous: str | None,
    seconds: float,
    clock: Clock,
    report: Report,
    message: str | None,
) -> None:
    """The rollback's history line. The switch is done when this runs, so a disk too full for
    the line is a warning: the next command's recovery records the switch it finds."""
    try:
        switched = Switch(
            target, previous, SwitchReason.ROLLBACK, seconds=round(seconds, 3), message=message
        )
        record(root, switched, clock)
    except OSError as error:
        report(
            f"warning: rolled back, but the history could not record it "
            f"({describe_os_error(error)}); the next command records it"
        )


def _after_switch(
    root: DeployRoot,
    live: LiveOptions,
    target: str,
    previous: str | None,
    clock: Clock,
    report: Report,
) -> None:
    """Restart + health for the rollback target. On failure we stay on the target: the release
    rolled back from is the one the operator just rejected, and switching to it (or on to
    another) would be a loop of guesses. The target is not marked failed either: it was healthy
    when it was live, so the fault is more likely in the environment."""
    problem = verify_live(root, live, target, previous, report)
    if problem is None:
        run_point(root, live, "after_rollback", target, previous, report)
        return
    with contextlib.suppress(OSError):  # a full disk must not hide the health failure
        record(root, RollbackUnhealthy(target, previous, problem), clock)
    message = (
        f"rolled back to {target}, but {problem}; current stays {target} "
        f"(fix the app, then run the restart command or roll back --to another release)"
    )
    run_on_failure(root, live, target, previous, message, report)
    raise HealthFailed(message)
