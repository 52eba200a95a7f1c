"""Deploy, switch and rollback in blue-green mode: the hooks, history and failure handling of
golive.py around bluegreen.go_live (whose health check comes before the flip, so a release
that fails it never served a request and nothing has to be switched back)."""

from __future__ import annotations

from releases_cli.core.clock import Clock
from releases_cli.core.errors import BuildFailed, HealthFailed
from releases_cli.core.events import Switch, SwitchReason, record
from releases_cli.core.layout import DeployRoot
from releases_cli.core.report import Report, Stage, stage
from releases_cli.pipelines import bgapps, bluegreen
from releases_cli.pipelines.golive import (
    LiveOptions,
    _best_effort,
    before_switch,
    mark_failed,
    run_on_failure,
    run_point,
)


def activate(
    root: DeployRoot,
    release_id: str,
    previous: str | None,
    live: LiveOptions,
    clock: Clock,
    report: Report,
) -> None:
    """before_switch hooks, start + check the app on its port, flip, after_switch hooks.
    BuildFailed or HealthFailed: the release is marked failed and nothing was flipped."""
    assert live.serve is not None
    sv = bgapps.serving(root, live.serve)
    try:
        before_switch(root, live, release_id, previous, report)
        with stage(report, Stage.SWITCH, f"blue-green: {release_id}"):
            bluegreen.go_live(sv, release_id, clock, report)
    except (BuildFailed, HealthFailed) as error:
        message = f"{error.message}; nothing was flipped (current is still {previous})"
        _best_effort(
            lambda: mark_failed(root, release_id, message, clock), "mark it failed", report
        )
        run_on_failure(root, live, release_id, previous, message, report)
        raise type(error)(message) from None
    record(root, Switch(release_id, previous, SwitchReason.DEPLOY), clock)
    run_point(root, live, "after_switch", release_id, previous, report)


def roll_back(
    root: DeployRoot,
    target: str,
    previous: str | None,
    live: LiveOptions,
    clock: Clock,
    report: Report,
) -> None:
    """Flip to `target` (warm: a health probe and the flip; cold: started first). A target
    that does not become healthy is not flipped to: HealthFailed, `current` unchanged."""
    assert live.serve is not None
    sv = bgapps.serving(root, live.serve)
    try:
        with stage(report, Stage.SWITCH, f"blue-green: {target}"):
            bluegreen.go_live(sv, target, clock, report)
    except HealthFailed as error:
        message = f"{error.message}; not rolled back (current is still {previous})"
        run_on_failure(root, live, target, previous, message, report)
        raise HealthFailed(message) from None
