"""Two-phase deploy for a fleet: `stage` (get the code, build, complete; no switch) on every
host, then `switch` (activate a staged release) host by host.

Between the phases a staged release is complete but was never live: rollback never picks it
without `--to` (it is not on the live stack) and prune keeps it while it is newer than the live
release (see `state.awaiting_switch`). Pruning happens after a successful switch only.

`--id` lets every host use one id handed out by the controller. Ids are order (docs/design.md: id
order is creation order on a host), so a given id must be new and sort after every id the host
has ever seen; a controller whose clock is behind is refused rather than reordering history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from releases_cli.core.clock import Clock, utc_now
from releases_cli.core.events import StageFinished, SwitchFinished, record
from releases_cli.core.ids import validate_id
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import SourceInfo
from releases_cli.core.prune import PruneResult
from releases_cli.core.report import Report
from releases_cli.pipelines.finish import clean_up, finish, holding
from releases_cli.pipelines.newid import check_new_id, known_ids
from releases_cli.pipelines.publish import LiveOptions, publish_new
from releases_cli.pipelines.stage import DeployOptions, preflight, stage_release
from releases_cli.pipelines.watch import Watching, flip_cursor, watch


@dataclass(frozen=True)
class StageResult:
    id: str
    previous: str | None  # what was live while staging (unchanged by the stage)
    seconds: float
    build_seconds: float
    size: int
    source: SourceInfo


@dataclass(frozen=True)
class SwitchResult:
    id: str
    previous: str | None
    seconds: float
    pruned: PruneResult


def _quiet(_message: str) -> None:
    return None


def stage(
    root: DeployRoot,
    options: DeployOptions,
    release_id: str | None = None,
    clock: Clock = utc_now,
    report: Report = _quiet,
) -> StageResult:
    """Build a new complete release without switching `current` to it (refused while frozen
    unless `options.override_freeze`)."""
    if release_id is not None:
        validate_id(release_id)
    preflight(root, options)
    started = time.monotonic()
    with holding(
        root, "stage", options.wait, clock, report, options.override_freeze, options.message
    ):
        if release_id is not None:
            check_new_id(release_id, known_ids(root), clock())
        staged = stage_release(root, options, clock, report, started, release_id)
        seconds = time.monotonic() - started
        record(root, StageFinished(staged.id, round(seconds, 3), options.message), clock)
    return StageResult(
        staged.id,
        staged.previous,
        seconds,
        staged.build_seconds,
        staged.size,
        staged.source,
    )


def switch(
    root: DeployRoot,
    release_id: str,
    keep: int,
    wait: float = 0,
    clock: Clock = utc_now,
    report: Report = _quiet,
    live: LiveOptions | None = None,
    message: str | None = None,
    override_freeze: bool = False,
    watching: Watching | None = None,
) -> SwitchResult:
    """Make a complete release current with the deploy's activation (before_switch hooks, atomic
    switch, restart, health check, after_switch hooks), then prune.

    When the restart or health check fails, `current` is switched back to the release live
    before, the release is marked failed and HealthFailed is raised; nothing is pruned.
    Refused while frozen unless `override_freeze` (the override is recorded).
    """
    validate_id(release_id)
    root.require_initialized()
    started = time.monotonic()
    with holding(root, "switch", wait, clock, report, override_freeze, message) as recovered:
        snap = recovered.snapshot
        snap.target(release_id, "switch to")
        since = flip_cursor(root)
        publish_new(root, release_id, live or LiveOptions(), clock, report, started)
        seconds = time.monotonic() - started
        finished = SwitchFinished(release_id, snap.current_id, round(seconds, 3), message)
        pruned = finish(root, finished, keep, clock, report)
    clean_up(root, pruned)
    if watching is not None and watching.settings.watch > 0:  # [serve] watch, lock released
        s = watching.settings
        previous = snap.current_id
        watch(root, s, release_id, previous, s.watch, since, watching.live_line, report, clock)
    return SwitchResult(release_id, snap.current_id, seconds, pruned)
