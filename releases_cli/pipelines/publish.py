"""Publish: the one step that makes a complete release serve, for deploy and switch (a new
release) and for rollback (a kept one). It runs the hooks around the serving strategy, records
the switch at the moment the strategy says traffic moved, and runs on_failure when the release
does not serve. It never asks which strategy it holds (serving/strategy.py says what each must
do; serving/strategies.py picks one from `[serve] mode`).

Deploy order: before_switch hooks (a failure marks the release failed: nothing was switched),
strategy.go_live, after_switch hooks. Rollback order: strategy.roll_back, after_rollback hooks.
A failing after_* or on_failure hook only warns (hooks.py says why).
"""

from __future__ import annotations

import time
from typing import NamedTuple, TextIO

from releases_cli.config import Config, HookPoint, HooksConfig
from releases_cli.core.clock import Clock
from releases_cli.core.errors import BuildFailed, HealthFailed, describe_os_error
from releases_cli.core.events import Switch, SwitchReason, record
from releases_cli.core.layout import DeployRoot, require_current_is_link
from releases_cli.core.report import Report
from releases_cli.core.run import release_env
from releases_cli.pipelines.hooks import run_hooks
from releases_cli.serving.reload import Reload
from releases_cli.serving.strategies import for_config
from releases_cli.serving.strategy import (
    Activation,
    Stages,
    Strategy,
    describe,
    mark_failed_best_effort,
)


class LiveOptions(NamedTuple):
    """How releases go live: the serving strategy and the hooks around it. The default is a
    reload strategy with no restart command and no health URL: just the switch."""

    strategy: Strategy = Reload()
    hooks: HooksConfig = HooksConfig()
    echo: TextIO | None = None  # where restart/hook output goes (default: stdout)


def live_options(cfg: Config) -> LiveOptions:
    """LiveOptions from the effective config ([serve] mode picks the strategy; [hooks])."""
    return LiveOptions(for_config(cfg), cfg.hooks)


def publish_new(
    root: DeployRoot,
    release_id: str,
    live: LiveOptions,
    clock: Clock,
    report: Report,
    started: float,
) -> float:
    """Publish a new complete release (deploy, switch; the caller holds the lock)."""
    previous = require_current_is_link(root).release_id
    act = Activation(root, release_id, previous, clock, report)
    return publish(act, live, SwitchReason.DEPLOY, started)


def publish(
    act: Activation,
    live: LiveOptions,
    reason: SwitchReason,
    started: float,
    message: str | None = None,
) -> float:
    """Make `act.release_id` serve: a new release (reason DEPLOY, for deploy and switch) or a
    kept one (ROLLBACK). Returns the seconds from `started` (the command's start, monotonic)
    to the moment traffic moved. Raises BuildFailed/HealthFailed (on_failure hooks run) or
    Interrupted, with what is live now in the message."""
    act = act._replace(echo=live.echo)
    deploying = reason is SwitchReason.DEPLOY
    if deploying:
        _before_switch(act, live)
    moved: list[float] = []

    def switched() -> None:
        moved.append(time.monotonic() - started)
        if deploying:
            record(act.root, Switch(act.release_id, act.previous, reason), act.clock)
        else:
            _record_rollback(act, round(moved[0], 3), message)

    go = live.strategy.go_live if deploying else live.strategy.roll_back
    try:
        go(act, switched)
    except (BuildFailed, HealthFailed) as error:
        run_on_failure(act, live, error.message)
        raise
    run_point(act, live, "after_switch" if deploying else "after_rollback")
    return moved[0] if moved else time.monotonic() - started


def start_canary(
    act: Activation, live: LiveOptions, stages: Stages, window: dict[str, int | str]
) -> None:
    """A new release takes the first stage's share of the visitors: before_switch hooks (the
    first visitor reaches it now), then the strategy's split. Failures as for publish."""
    act = act._replace(echo=live.echo)
    _before_switch(act, live)
    try:
        live.strategy.start_canary(act, stages, window)
    except (BuildFailed, HealthFailed) as error:
        run_on_failure(act, live, error.message)
        raise


def promote(act: Activation, live: LiveOptions) -> None:
    """The canary becomes live (the switch recorded as a deploy's), then after_switch hooks."""
    act = act._replace(echo=live.echo)

    def switched() -> None:
        record(act.root, Switch(act.release_id, act.previous, SwitchReason.DEPLOY), act.clock)

    live.strategy.promote(act, switched)
    run_point(act, live, "after_switch")


def _before_switch(act: Activation, live: LiveOptions) -> None:
    """before_switch hooks; a failure marks the release failed and raises BuildFailed (nothing
    was switched)."""
    failure = run_hooks(
        live.hooks,
        "before_switch",
        act.root.release(act.release_id),
        act.root.log(act.release_id),
        release_env(act.root, act.release_id, act.previous),
        act.report,
        act.echo,
    )
    if failure is not None:
        message = f"{failure.describe()}; current is unchanged"
        mark_failed_best_effort(act, message)
        run_on_failure(act, live, message)
        raise BuildFailed(message)


def _record_rollback(act: Activation, seconds: float, message: str | None) -> None:
    """The rollback's history line. The switch is done when this runs, so a disk too full for
    the line is a warning: the next command's recovery records the switch it finds."""
    try:
        switched = Switch(
            act.release_id,
            act.previous,
            SwitchReason.ROLLBACK,
            seconds=seconds,
            message=message,
        )
        record(act.root, switched, act.clock)
    except OSError as error:
        act.report(
            f"warning: rolled back, but the history could not record it "
            f"({describe_os_error(error)}); the next command records it"
        )


def run_point(
    act: Activation, live: LiveOptions, point: HookPoint, extra: dict[str, str] | None = None
) -> None:
    """Run a hook point that must not fail the command (after_*, on_failure): whatever goes
    wrong in it (a failing hook, an unwritable log) becomes a warning."""
    root, release_id = act.root, act.release_id
    env = release_env(root, release_id, act.previous) | (extra or {})
    try:
        failure = run_hooks(
            live.hooks,
            point,
            root.release(release_id),
            root.log(release_id),
            env,
            act.report,
            live.echo,
        )
    except Exception as error:
        act.report(f"warning: {point} hooks: {describe(error)}; continuing")
        return
    if failure is not None:
        act.report(f"warning: {failure.describe()}; continuing")


def run_on_failure(act: Activation, live: LiveOptions, message: str) -> None:
    """on_failure hooks, with the error in RELEASES_ERROR."""
    run_point(act, live, "on_failure", {"RELEASES_ERROR": message})
