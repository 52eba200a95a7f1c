"""Going live: switch, restart, confirm health; on failure switch back and mark the release failed.

Shared by deploy (`activate_release`) and rollback. The order follows docs/design.md (hand-over):
the switch is atomic, the restart moves the app's processes over, and the health check
(including, for Next.js, the build id) confirms the new build is what is served before anything
is pruned. A release that fails here is marked failed *before* `current` is switched away from
it: a crash between the two then leaves `current` on a failed release (which `doctor` reports
and any rollback leaves), never a never-healthy release that still looks complete and could be
picked as a rollback target later.

Between the switch and a passed health check the new release is live but unverified, so
anything that goes wrong there (not only a failing command or an unhealthy answer: any
exception, and SIGINT/SIGTERM too) switches back. See docs/failure-handling.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple, TextIO

from releases_cli.config import (
    Config,
    HealthConfig,
    HookPoint,
    HooksConfig,
    RestartConfig,
    ServeConfig,
)
from releases_cli.core import faults, interrupts, reserve
from releases_cli.core.clock import Clock
from releases_cli.core.current import remove_current, switch_to
from releases_cli.core.errors import (
    BuildFailed,
    HealthFailed,
    Interrupted,
    ReleasesError,
    describe_os_error,
    one_line,
)
from releases_cli.core.events import (
    CurrentRemoved,
    DeployFailed,
    Switch,
    SwitchBackUnhealthy,
    SwitchReason,
    record,
)
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import read_meta, write_meta
from releases_cli.core.report import Report, Stage, echo_for, stage
from releases_cli.pipelines.hooks import release_env, run_hooks
from releases_cli.pipelines.restart import restart_env, run_restart

log = logging.getLogger(__name__)


class LiveOptions(NamedTuple):
    """What happens around a switch. Empty: just the switch (the foundation's behaviour)."""

    restart: RestartConfig | None = None
    health: HealthConfig | None = None
    hooks: HooksConfig = HooksConfig()
    echo: TextIO | None = None  # where restart/hook output goes (default: stdout)
    serve: ServeConfig | None = None  # blue-green serving (then no restart command)
    app_env: tuple[tuple[str, str], ...] = ()  # serve.env: for the restart command in reload mode


def run_point(
    root: DeployRoot,
    live: LiveOptions,
    point: HookPoint,
    release_id: str,
    previous: str | None,
    report: Report,
    extra: dict[str, str] | None = None,
) -> None:
    """Run a hook point that must not fail the command (after_*, on_failure): whatever goes
    wrong in it (a failing hook, an unwritable log) becomes a warning."""
    env = release_env(root, release_id, previous) | (extra or {})
    cwd, log = root.release(release_id), root.log(release_id)
    try:
        failure = run_hooks(live.hooks, point, cwd, log, env, report, live.echo)
    except Exception as error:
        report(f"warning: {point} hooks: {describe(error)}; continuing")
        return
    if failure is not None:
        report(f"warning: {failure.describe()}; continuing")


def run_on_failure(
    root: DeployRoot,
    live: LiveOptions,
    release_id: str,
    previous: str | None,
    message: str,
    report: Report,
) -> None:
    """on_failure hooks, with the error in RELEASES_ERROR."""
    run_point(root, live, "on_failure", release_id, previous, report, {"RELEASES_ERROR": message})


def before_switch(
    root: DeployRoot, live: LiveOptions, release_id: str, previous: str | None, report: Report
) -> None:
    """Run before_switch hooks; a failure raises BuildFailed (the caller has not switched)."""
    failure = run_hooks(
        live.hooks,
        "before_switch",
        root.release(release_id),
        root.log(release_id),
        release_env(root, release_id, previous),
        report,
        live.echo,
    )
    if failure is not None:
        raise BuildFailed(f"{failure.describe()}; current is unchanged")


def describe(error: BaseException) -> str:
    """An unexpected error as one line: ours by its message, the OS's by reason and file."""
    if isinstance(error, ReleasesError):
        return one_line(error.message)
    if isinstance(error, OSError):
        return describe_os_error(error)
    return one_line(f"{type(error).__name__}: {error}")


def verify_live(
    root: DeployRoot, live: LiveOptions, release_id: str, previous: str | None, report: Report
) -> str | None:
    """Restart the app and check its health for the release now current; None when fine, else
    the problem. Any exception in either is a problem too (never a release left live unverified
    because a check crashed); only an interrupt propagates."""
    try:
        return _restart_and_check(root, live, release_id, previous, report)
    except Exception as error:
        log.debug("restart/health check of %s raised", release_id, exc_info=True)
        return f"restart/health check failed: {describe(error)}"


def _restart_and_check(
    root: DeployRoot, live: LiveOptions, release_id: str, previous: str | None, report: Report
) -> str | None:
    if live.restart is not None and live.restart.command:
        with stage(report, Stage.RESTART, f"$ {live.restart.command}") as restarting:
            problem = run_restart(
                live.restart,
                root.path,
                root.log(release_id),
                restart_env(release_env(root, release_id, previous), live.app_env),
                echo_for(report, live.echo),
            )
            if problem is not None:
                restarting.fail(problem)
        if problem is not None:
            return problem
    faults.point("after_restart")
    if live.health is not None and live.health.url:
        # socket, urllib and the static walk: only when a health check is set
        from releases_cli.nextjs import static_share
        from releases_cli.pipelines.health import check_health

        with stage(report, Stage.HEALTH, live.health.url) as checking:
            proof = static_share.proof_url_path(root.release(release_id))
            problem = check_health(live.health, report, proof)
            if problem is not None:
                checking.fail(problem)
        return problem
    return None


def switch_back(
    root: DeployRoot,
    live: LiveOptions,
    failed_id: str,
    previous: str | None,
    problem: str,
    clock: Clock,
    report: Report,
) -> str:
    """Undo a deploy's switch after `problem`, then restart and check the release live again;
    returns what is live now, for the message."""
    elsewhere = undo_switch(root, failed_id, previous, problem, clock, report)
    if elsewhere is not None or previous is None:
        return elsewhere or "nothing is live"
    again = verify_live(root, live, previous, failed_id, report)
    if again is not None:
        _best_effort(
            lambda: record(root, SwitchBackUnhealthy(previous, again), clock),
            "record that the switch back is unhealthy",
            report,
        )
        return f"switched back to {previous}, but it is not healthy either: {again}"
    return f"switched back to {previous}, which is serving again"


def undo_switch(
    root: DeployRoot,
    failed_id: str,
    previous: str | None,
    problem: str,
    clock: Clock,
    report: Report,
) -> str | None:
    """Mark `failed_id` failed and point `current` back at `previous` (or remove it), with
    SIGINT/SIGTERM held until both are done. None when `current` is back on `previous`, else
    a sentence saying what is live instead. On a full disk the reserve is spent first (this is
    a rollback); a record that still cannot be written is a warning, never a reason to stay."""
    with interrupts.deferred():
        reserve.release_if_low(root)
        _best_effort(lambda: mark_failed(root, failed_id, problem, clock), "mark it failed", report)
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
            _best_effort(
                lambda: record(root, CurrentRemoved(failed_id, problem), clock),
                "record that current was removed",
                report,
            )
            return "there was no previous release, so `current` was removed"
        _best_effort(
            lambda: record(
                root,
                Switch(previous, failed_id, SwitchReason.ROLLBACK, automatic=True, cause=problem),
                clock,
            ),
            "record the switch back",
            report,
        )
    return None


def _best_effort(action: Callable[[], object], what: str, report: Report) -> None:
    """Bookkeeping that must not stop a switch back: an OS error becomes a warning."""
    try:
        action()
    except OSError as error:
        report(f"warning: could not {what}: {describe_os_error(error)}")


def mark_failed(root: DeployRoot, release_id: str, problem: str, clock: Clock) -> None:
    """Meta status failed (keeping the build facts) + a deploy_failed event."""
    meta = read_meta(root, release_id)
    if meta is not None:  # no readable meta: the release is incomplete already, never live
        write_meta(root, meta.marked_failed(clock, problem))
    record(root, DeployFailed(release_id, problem), clock)


def go_live(
    root: DeployRoot,
    release_id: str,
    previous: str | None,
    live: LiveOptions,
    clock: Clock,
    report: Report,
) -> None:
    """Deploy's activation: before_switch, switch, restart, health, after_switch.

    Raises BuildFailed (current untouched), HealthFailed (switched back, release failed), or,
    on SIGINT/SIGTERM after the switch, Interrupted (switched back, release failed).
    """
    try:
        before_switch(root, live, release_id, previous, report)
    except BuildFailed as error:
        message = error.message
        _best_effort(
            lambda: mark_failed(root, release_id, message, clock), "mark it failed", report
        )
        run_on_failure(root, live, release_id, previous, message, report)
        raise
    problem = _switch_and_confirm(_Activation(root, release_id, previous, live, clock, report))
    if problem is not None:
        report(f"failed: {problem}")
        outcome = switch_back(root, live, release_id, previous, problem, clock, report)
        message = f"{problem}; {outcome}; release {release_id} is marked failed"
        run_on_failure(root, live, release_id, previous, message, report)
        raise HealthFailed(message)
    run_point(root, live, "after_switch", release_id, previous, report)


class _Activation(NamedTuple):
    """A release going live, and what it needs to."""

    root: DeployRoot
    release_id: str
    previous: str | None
    live: LiveOptions
    clock: Clock
    report: Report


def _switch_and_confirm(act: _Activation) -> str | None:
    """Switch, record, restart, check health: None when the new release is confirmed, else
    the problem (once switched, any exception counts). An interrupt after the switch switches
    back before it propagates."""
    root, release_id, report = act.root, act.release_id, act.report
    switched = False
    try:
        with (
            interrupts.deferred(),
            stage(report, Stage.SWITCH, f"current -> releases/{release_id}"),
        ):
            switch_to(root, release_id)  # atomic: when this raises, `current` is unchanged
            switched = True
            faults.point("after_switch")
        record(root, Switch(release_id, act.previous, SwitchReason.DEPLOY), act.clock)
        return verify_live(root, act.live, release_id, act.previous, report)
    except KeyboardInterrupt:
        if not switched:
            raise
        raise Interrupted(_interrupted(act)) from None
    except Exception as error:
        if not switched:
            raise
        return f"after the switch: {describe(error)}"


def _interrupted(act: _Activation) -> str:
    """SIGINT/SIGTERM during restart or health: the new release is unverified, so it goes the
    way of a failed one (switched back, marked failed; no on_failure hooks: the user stopped
    us), and the previous release is restarted, without waiting for its health check (the
    user wants out). Returns the line for the user. A second interrupt stops that restart."""
    failed, previous = act.release_id, act.previous
    act.report(f"interrupted: switching back from {failed}")
    problem = "interrupted during restart/health check"
    elsewhere = undo_switch(act.root, failed, previous, problem, act.clock, act.report)
    if elsewhere is not None or previous is None:
        return f"{elsewhere or 'nothing is live'}; release {failed} is marked failed"
    try:
        restart_only = act.live._replace(health=None)
        again = verify_live(act.root, restart_only, previous, failed, act.report)
    except KeyboardInterrupt:
        again = "its restart was interrupted too"
    state = f"switched back to {previous}" + (f" (but {again})" if again else "")
    return f"{state}; release {failed} is marked failed"


def live_options(cfg: Config) -> LiveOptions:
    """LiveOptions from the effective config ([restart], [health], [hooks], [serve]). In
    blue-green mode releases runs the apps itself and checks each on its own port, so the
    restart command and health URL are not used."""
    if cfg.serve.blue_green:
        return LiveOptions(hooks=cfg.hooks, serve=cfg.serve)
    return LiveOptions(
        restart=cfg.restart if cfg.restart.command else None,
        health=cfg.health if cfg.health.url else None,
        hooks=cfg.hooks,
        app_env=cfg.serve.env,
    )
