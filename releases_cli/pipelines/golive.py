"""Going live: switch, restart, confirm health; on failure switch back and mark the release failed.

Shared by deploy (`activate_release`) and rollback. The order follows DESIGN.md "hand-over":
the switch is atomic, the restart moves the app's processes over, and the health check
(including, for Next.js, the build id) confirms the new build is what is served before anything
is pruned. A release that fails here is marked failed *before* `current` is switched away from
it: a crash between the two then leaves `current` on a failed release (which `doctor` reports
and any rollback leaves), never a never-healthy release that still looks complete and could be
picked as a rollback target later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

from releases_cli.config import Config, HealthConfig, HookPoint, HooksConfig, RestartConfig
from releases_cli.core import faults, history
from releases_cli.core.current import remove_current, switch_to
from releases_cli.core.errors import BuildFailed, HealthFailed
from releases_cli.core.history import FAILED, Clock, iso, record
from releases_cli.core.layout import DeployRoot
from releases_cli.core.report import Report, Stage, echo_for, stage
from releases_cli.core.state import SWITCH
from releases_cli.nextjs import static_share
from releases_cli.pipelines.health import check_health
from releases_cli.pipelines.hooks import release_env, run_hooks, run_reporting_hooks
from releases_cli.pipelines.restart import run_restart


@dataclass(frozen=True)
class LiveOptions:
    """What happens around a switch. Empty: just the switch (the foundation's behaviour)."""

    restart: RestartConfig | None = None
    health: HealthConfig | None = None
    hooks: HooksConfig = field(default_factory=HooksConfig)
    echo: TextIO | None = None  # where restart/hook output goes (default: stdout)


def env_for(root: DeployRoot, release_id: str, previous: str | None) -> dict[str, str]:
    return release_env(root.path, root.release(release_id), release_id, previous)


def run_point(
    root: DeployRoot,
    live: LiveOptions,
    point: HookPoint,
    release_id: str,
    previous: str | None,
    report: Report,
    extra: dict[str, str] | None = None,
) -> None:
    """Run a hook point that must not fail the command (after_*, on_failure)."""
    env = env_for(root, release_id, previous) | (extra or {})
    run_reporting_hooks(
        live.hooks, point, root.release(release_id), root.log(release_id), env, report, live.echo
    )


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
        env_for(root, release_id, previous),
        report,
        live.echo,
    )
    if failure is not None:
        raise BuildFailed(f"{failure.describe()}; current is unchanged")


def verify_live(
    root: DeployRoot, live: LiveOptions, release_id: str, previous: str | None, report: Report
) -> str | None:
    """Restart the app and check its health for the release now current; None when fine."""
    if live.restart is not None and live.restart.command:
        with stage(report, Stage.RESTART, f"$ {live.restart.command}") as restarting:
            problem = run_restart(
                live.restart,
                root.path,
                root.log(release_id),
                env_for(root, release_id, previous),
                echo_for(report, live.echo),
            )
            if problem is not None:
                restarting.fail(problem)
        if problem is not None:
            return problem
    faults.point("after_restart")
    if live.health is not None and live.health.url:
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
    """Undo a deploy's switch after `problem`; returns what is live now, for the message."""
    mark_failed(root, failed_id, problem, clock)
    faults.point("after_mark_failed")
    if previous is None:
        # First deploy: nothing was live before, so nothing is live after (no failed current).
        remove_current(root)
        record(root, "current_removed", clock, id=failed_id, reason=problem)
        return "there was no previous release, so `current` was removed"
    with stage(report, Stage.SWITCH, f"back: current -> releases/{previous}"):
        switch_to(root, previous)
        faults.point("after_switch_back")
        record(
            root,
            SWITCH,
            clock,
            id=previous,
            previous=failed_id,
            reason="rollback",
            automatic=True,
            cause=problem,
        )
    again = verify_live(root, live, previous, failed_id, report)
    if again is not None:
        record(root, "switch_back_unhealthy", clock, id=previous, error=again)
        return f"switched back to {previous}, but it is not healthy either: {again}"
    return f"switched back to {previous}, which is serving again"


def mark_failed(root: DeployRoot, release_id: str, problem: str, clock: Clock) -> None:
    """Meta status failed (keeping the build facts) + a deploy_failed event."""
    meta = history.read_meta(root, release_id) or {}
    meta = {k: v for k, v in meta.items() if k not in ("v", "id")}
    history.write_meta(
        root, release_id, meta | {"status": FAILED, "failed_at": iso(clock()), "error": problem}
    )
    record(root, "deploy_failed", clock, id=release_id, error=problem)


def go_live(
    root: DeployRoot,
    release_id: str,
    previous: str | None,
    live: LiveOptions,
    clock: Clock,
    report: Report,
) -> None:
    """Deploy's activation: before_switch, switch, restart, health, after_switch.

    Raises BuildFailed (current untouched) or HealthFailed (switched back, release failed).
    """
    try:
        before_switch(root, live, release_id, previous, report)
    except BuildFailed as error:
        mark_failed(root, release_id, error.message, clock)
        run_on_failure(root, live, release_id, previous, error.message, report)
        raise
    with stage(report, Stage.SWITCH, f"current -> releases/{release_id}"):
        switch_to(root, release_id)
        faults.point("after_switch")
        record(root, SWITCH, clock, id=release_id, previous=previous, reason="deploy")
    problem = verify_live(root, live, release_id, previous, report)
    if problem is not None:
        report(f"failed: {problem}")
        outcome = switch_back(root, live, release_id, previous, problem, clock, report)
        message = f"{problem}; {outcome}; release {release_id} is marked failed"
        run_on_failure(root, live, release_id, previous, message, report)
        raise HealthFailed(message)
    run_point(root, live, "after_switch", release_id, previous, report)


def live_options(cfg: Config) -> LiveOptions:
    """LiveOptions from the effective config ([restart], [health], [hooks])."""
    return LiveOptions(
        restart=cfg.restart if cfg.restart.command else None,
        health=cfg.health if cfg.health.url else None,
        hooks=cfg.hooks,
    )
