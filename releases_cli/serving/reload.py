"""Reload mode: one app, run by the user's own process manager, serving whatever `current`
names. Going live is the atomic `current` switch, then the restart command (the app's processes
move over), then the health URL (for Next.js, with the build id) confirms the new build is what
is served. See docs/design.md (hand-over) and docs/failure-handling.md.

Between the switch and a passed health check the new release is live but unverified, so
anything that goes wrong there (not only a failing command or an unhealthy answer: any
exception, and SIGINT/SIGTERM too) switches back. A rollback whose target turns out unhealthy
stays on it: the release rolled back from is the one the operator just rejected, and switching
on would be a loop of guesses.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from releases_cli.config import AnalysisConfig, HealthConfig, RestartConfig
from releases_cli.core import faults, interrupts, reserve
from releases_cli.core.clock import Clock
from releases_cli.core.current import remove_current, switch_to
from releases_cli.core.errors import HealthFailed, Interrupted, InvalidInput
from releases_cli.core.events import (
    CurrentRemoved,
    RollbackUnhealthy,
    Switch,
    SwitchBackUnhealthy,
    SwitchReason,
    record,
)
from releases_cli.core.finding import Finding
from releases_cli.core.layout import DeployRoot, read_current
from releases_cli.core.report import Report, Stage, echo_for, stage
from releases_cli.core.run import release_env
from releases_cli.serving.strategy import (
    Activation,
    ServeApp,
    Stages,
    Switched,
    Up,
    best_effort,
    describe,
    mark_failed_best_effort,
)

if TYPE_CHECKING:
    from releases_cli.serving.watchprobe import Probe

log = logging.getLogger(__name__)
PROBE_SECONDS = 5.0  # how long `up` waits for the health URL before restarting


class Reload(NamedTuple):
    """[restart] and [health] of releases.toml (None: not set; then a switch is all there is)."""

    restart: RestartConfig | None = None
    health: HealthConfig | None = None
    app_env: tuple[tuple[str, str], ...] = ()  # serve.env, for the restart command
    name: str = "reload"
    pm2: str = "pm2"  # serve.pm2: the watch after a flip reads the app's restart count
    checks: tuple[str, ...] = ()  # [hooks] check: the watch runs them
    check_timeout: float = 0  # [hooks] timeout

    def check(self, root: DeployRoot) -> None:
        return None

    def require(self, root: DeployRoot, command: str) -> None:
        if command in ("preview", "reap"):
            raise _blue_green_only(root, command)

    def go_live(self, act: Activation, switched: Switched) -> None:
        """Switch, restart, check health; on failure switch back (HealthFailed), on an
        interrupt after the switch too (Interrupted)."""
        problem = self._switch_and_confirm(act, switched)
        if problem is not None:
            act.report(f"failed: {problem}")
            outcome = self._switch_back(act, problem)
            raise HealthFailed(f"{problem}; {outcome}; release {act.release_id} is marked failed")

    def roll_back(self, act: Activation, switched: Switched) -> None:
        """Switch (recorded with it), then restart + health; an unhealthy target stays live."""
        with interrupts.deferred():  # switched and recorded, or neither
            with stage(act.report, Stage.SWITCH, f"current -> releases/{act.release_id}"):
                switch_to(act.root, act.release_id)
                faults.point("rollback_after_switch")
            switched()
        problem = self.verify(act)
        if problem is None:
            return
        with contextlib.suppress(OSError):  # a full disk must not hide the health failure
            record(act.root, RollbackUnhealthy(act.release_id, act.previous, problem), act.clock)
        raise HealthFailed(
            f"rolled back to {act.release_id}, but {problem}; current stays {act.release_id} "
            f"(fix the app, then run the restart command or roll back --to another release)"
        )

    def up(self, root: DeployRoot, clock: Clock, report: Report) -> Up:
        """The restart command and health check, unless the health URL answers already
        (without a health URL the restart command always runs: nothing else can tell)."""
        from releases_cli.serving.health import probe

        release_id = read_current(root).release_id
        if release_id is None:
            return Up(None)
        if self.health is not None:
            answer = probe(self.health.url, PROBE_SECONDS)
            if answer == self.health.status:
                report(f"up: {self.health.url} answers {answer}; nothing to start")
                return Up(release_id)
            if self.restart is None:
                raise HealthFailed(
                    f"{self.health.url} answers {answer} and there is no [restart] command to "
                    f"start {release_id} with"
                )
            report(f"up: {self.health.url} answers {answer}; restarting")
        if self.restart is None:
            report("up: no [restart] command; nothing to start")
            return Up(release_id)
        problem = self._restart_and_check(Activation(root, release_id, None, clock, report))
        if problem is not None:
            raise HealthFailed(f"{release_id} is not serving after the restart command: {problem}")
        return Up(release_id)

    def diagnose(self, root: DeployRoot) -> tuple[list[Finding], str | None]:
        return [], None  # the app is the user's: doctor's PM2 checks cover it

    def apps(self, root: DeployRoot, now: datetime) -> list[ServeApp]:
        return []  # one app, the user's own: `pm2 ls` shows it

    def preview(self, root: DeployRoot, release_id: str, clock: Clock, report: Report) -> int:
        raise _blue_green_only(root, "preview")

    def reap(self, root: DeployRoot, wait: float, clock: Clock, report: Report) -> list[str]:
        raise _blue_green_only(root, "reap")

    # -- no canary without nginx to split the traffic ---------------------------------------

    def check_canary(self, root: DeployRoot) -> None:
        raise _no_canary(root)

    def start_canary(self, act: Activation, stages: Stages, window: dict[str, int | str]) -> None:
        raise _no_canary(act.root)

    def advance_canary(
        self, root: DeployRoot, window: dict[str, int | str], clock: Clock, report: Report
    ) -> int:
        raise _no_canary(root)

    def promote(self, act: Activation, switched: Switched) -> None:
        raise _no_canary(act.root)

    def abort_canary(self, root: DeployRoot, clock: Clock, report: Report) -> tuple[str, str]:
        raise _no_canary(root)

    def traffic_ports(self, root: DeployRoot) -> dict[int, str]:
        return {}

    def watch_probe(
        self, act: Activation, analysis: AnalysisConfig, since: dict[str, int | str]
    ) -> Probe:
        from releases_cli.serving.watchprobe import ReloadProbe

        return ReloadProbe(
            act.root,
            act.release_id,
            act.previous,
            self.pm2,
            self.health,
            self.checks,
            self.check_timeout,
        )

    # -- restart and health ------------------------------------------------------------------

    def verify(self, act: Activation) -> str | None:
        """Restart the app and check its health for `act.release_id`, now current; None when
        fine, else the problem. Any exception in either is a problem too (never a release left
        live unverified because a check crashed); only an interrupt propagates."""
        try:
            return self._restart_and_check(act)
        except Exception as error:
            log.debug("restart/health check of %s raised", act.release_id, exc_info=True)
            return f"restart/health check failed: {describe(error)}"

    def _restart_and_check(self, act: Activation) -> str | None:
        root, release_id, report = act.root, act.release_id, act.report
        if self.restart is not None and self.restart.command:
            from releases_cli.serving.restart import restart_env, run_restart

            with stage(report, Stage.RESTART, f"$ {self.restart.command}") as restarting:
                problem = run_restart(
                    self.restart,
                    root.path,
                    root.log(release_id),
                    restart_env(release_env(root, release_id, act.previous), self.app_env),
                    echo_for(report, act.echo),
                )
                if problem is not None:
                    restarting.fail(problem)
            if problem is not None:
                return problem
        faults.point("after_restart")
        if self.health is not None and self.health.url:
            # socket, urllib and the static walk: only when a health check is set
            from releases_cli.nextjs import static_share
            from releases_cli.serving.health import check_health

            with stage(report, Stage.HEALTH, self.health.url) as checking:
                proof = static_share.proof_url_path(root.release(release_id))
                problem = check_health(self.health, report, proof)
                if problem is not None:
                    checking.fail(problem)
            return problem
        return None

    # -- deploy: switch, confirm, or switch back ---------------------------------------------

    def _switch_and_confirm(self, act: Activation, switched: Switched) -> str | None:
        """Switch, record, restart, check health: None when the new release is confirmed, else
        the problem (once switched, any exception counts). An interrupt after the switch
        switches back before it propagates."""
        root, release_id, report = act.root, act.release_id, act.report
        moved = False
        try:
            with (
                interrupts.deferred(),
                stage(report, Stage.SWITCH, f"current -> releases/{release_id}"),
            ):
                switch_to(root, release_id)  # atomic: when this raises, `current` is unchanged
                moved = True
                faults.point("after_switch")
            switched()
            return self.verify(act)
        except KeyboardInterrupt:
            if not moved:
                raise
            raise Interrupted(self._interrupted(act)) from None
        except Exception as error:
            if not moved:
                raise
            return f"after the switch: {describe(error)}"

    def _switch_back(self, act: Activation, problem: str) -> str:
        """Undo a deploy's switch after `problem`, then restart and check the release live
        again; returns what is live now, for the message."""
        previous = act.previous
        elsewhere = _undo_switch(act, problem)
        if elsewhere is not None or previous is None:
            return elsewhere or "nothing is live"
        again = self.verify(_back_to(act, previous))
        if again is not None:
            best_effort(
                lambda: record(act.root, SwitchBackUnhealthy(previous, again), act.clock),
                "record that the switch back is unhealthy",
                act.report,
            )
            return f"switched back to {previous}, but it is not healthy either: {again}"
        return f"switched back to {previous}, which is serving again"

    def _interrupted(self, act: Activation) -> str:
        """SIGINT/SIGTERM during restart or health: the new release is unverified, so it goes
        the way of a failed one (switched back, marked failed; no on_failure hooks: the user
        stopped us), and the previous release is restarted, without waiting for its health
        check (the user wants out). Returns the line for the user. A second interrupt stops
        that restart."""
        failed, previous = act.release_id, act.previous
        act.report(f"interrupted: switching back from {failed}")
        elsewhere = _undo_switch(act, "interrupted during restart/health check")
        if elsewhere is not None or previous is None:
            return f"{elsewhere or 'nothing is live'}; release {failed} is marked failed"
        try:
            restart_only = Reload(self.restart, None, self.app_env)
            again = restart_only.verify(_back_to(act, previous))
        except KeyboardInterrupt:
            again = "its restart was interrupted too"
        state = f"switched back to {previous}" + (f" (but {again})" if again else "")
        return f"{state}; release {failed} is marked failed"


def _undo_switch(act: Activation, problem: str) -> str | None:
    """Mark the release failed and point `current` back at the previous one (or remove it),
    with SIGINT/SIGTERM held until both are done. None when `current` is back on the previous
    release, else a sentence saying what is live instead. On a full disk the reserve is spent
    first (this is a rollback); a record that still cannot be written is a warning, never a
    reason to stay."""
    root, failed_id, previous, report = act.root, act.release_id, act.previous, act.report
    with interrupts.deferred():
        reserve.release_if_low(root)
        mark_failed_best_effort(act, problem)
        faults.point("after_mark_failed")
        try:
            if previous is None:
                # First deploy: nothing was live before, so nothing is live after.
                remove_current(root)
            else:
                with stage(report, Stage.SWITCH, f"back: current -> releases/{previous}"):
                    switch_to(root, previous)
                    faults.point("after_switch_back")
        except Exception as error:
            return (
                f"switching back failed ({describe(error)}); current is still {failed_id}, "
                f"marked failed: run `{root.command('rollback')}`"
            )
        if previous is None:
            best_effort(
                lambda: record(root, CurrentRemoved(failed_id, problem), act.clock),
                "record that current was removed",
                report,
            )
            return "there was no previous release, so `current` was removed"
        best_effort(
            lambda: record(
                root,
                Switch(previous, failed_id, SwitchReason.ROLLBACK, automatic=True, cause=problem),
                act.clock,
            ),
            "record the switch back",
            report,
        )
    return None


def _no_canary(root: DeployRoot) -> InvalidInput:
    return InvalidInput(
        'a canary needs nginx to split the traffic: set [serve] mode = "blue-green" in '
        f"{root.config_file} (docs/canary.md), or deploy with --canary 0"
    )


def _back_to(act: Activation, previous: str) -> Activation:
    """The activation of switching back: `previous` serves again, the failed one was before."""
    return act._replace(release_id=previous, previous=act.release_id)


def _blue_green_only(root: DeployRoot, command: str) -> InvalidInput:
    return InvalidInput(
        f'`releases {command}` needs [serve] mode = "blue-green" in {root.config_file}'
    )
