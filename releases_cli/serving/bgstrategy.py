"""Blue-green mode as a serving strategy (`[serve] mode = "blue-green"`): each release runs as
its own PM2 app on its own port, and going live is bluegreen.go_live (start or reuse the app,
check it on its port, warm it up, flip nginx and `current` together). Its health check comes
before the flip, so a release that fails it never served a request and nothing has to be
switched back. See docs/blue-green.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from releases_cli.config import AnalysisConfig, ServeConfig
from releases_cli.core.clock import Clock
from releases_cli.core.errors import BuildFailed, HealthFailed, UnsafeState
from releases_cli.core.finding import Finding
from releases_cli.core.layout import DeployRoot
from releases_cli.core.report import Report, Stage, stage
from releases_cli.serving import bgapps, bgcanary, bgdoctor, bluegreen, pm2
from releases_cli.serving.servestate import read_state
from releases_cli.serving.strategy import (
    Activation,
    ServeApp,
    Stages,
    Switched,
    Up,
    mark_failed_best_effort,
)

if TYPE_CHECKING:
    from releases_cli.serving.watchprobe import Probe


@dataclass(frozen=True)
class BlueGreen:
    """[serve] of releases.toml; the root's Serving (nginx, PM2) is made per call."""

    serve: ServeConfig
    ignored: tuple[str, ...] = ()  # reload-mode sections releases.toml sets (doctor warns)
    name: str = "blue-green"

    def serving(self, root: DeployRoot) -> bgapps.Serving:
        return bgapps.serving(root, self.serve)

    def check(self, root: DeployRoot) -> None:
        """A path nginx cannot name fails before the build."""
        bgapps.check_paths(root, self.serve)

    def require(self, root: DeployRoot, command: str) -> None:
        return None  # every serving command has a use here

    def go_live(self, act: Activation, switched: Switched) -> None:
        """Start + check the app on its port, flip. On BuildFailed or HealthFailed the release
        is marked failed and nothing was flipped."""
        try:
            self._flip(act, switched)
        except (BuildFailed, HealthFailed) as error:
            message = f"{error.message}; nothing was flipped (current is still {act.previous})"
            mark_failed_best_effort(act, message)
            raise type(error)(message) from None

    def roll_back(self, act: Activation, switched: Switched) -> None:
        """Flip to the target (warm: a health probe and the flip; cold: started first). A
        target that does not become healthy is not flipped to: HealthFailed, `current`
        unchanged."""
        try:
            self._flip(act, switched)
        except HealthFailed as error:
            message = f"{error.message}; not rolled back (current is still {act.previous})"
            raise HealthFailed(message) from None

    def _flip(self, act: Activation, switched: Switched) -> None:
        sv = self.serving(act.root)
        with stage(act.report, Stage.SWITCH, f"blue-green: {act.release_id}"):
            bluegreen.go_live(sv, act.release_id, act.clock, act.report, switched)

    def up(self, root: DeployRoot, clock: Clock, report: Report) -> Up:
        """Recovery, revival and reaping (bluegreen.settle), then, with serve.url, a check
        that nginx routes to the live release."""
        sv = self.serving(root)
        bluegreen.settle(sv, clock, report, thorough=True)
        state = read_state(root)
        if state.damaged:
            raise UnsafeState(
                "the serve state .releases/serve/state.json is unreadable; nothing was started "
                "(`releases doctor` says what to do)"
            )
        if self.serve.url and state.live is not None:
            bluegreen.confirm(self.serve.url, state.live, report)
        entry = state.apps.get(state.live) if state.live else None
        warm = tuple(r for r, e in sorted(state.apps.items()) if r != state.live and e.routed)
        return Up(state.live, entry.port if entry else None, warm)

    def diagnose(self, root: DeployRoot) -> tuple[list[Finding], str | None]:
        sv = self.serving(root)
        return bgdoctor.diagnose(sv, self.ignored), f"{sv.pm2.app}-"

    def apps(self, root: DeployRoot, now: datetime) -> list[ServeApp]:
        """Every app in the serve state: role, port, PM2 status and memory, when it stops."""
        sv = self.serving(root)
        state = read_state(root)
        # Never start a PM2 daemon just to look (all apps then show as not in PM2).
        asked = bool(state.apps) and pm2.daemon_running()
        running = (pm2.jlist(sv.pm2) or {}) if asked else {}
        apps: list[ServeApp] = []
        for rid, entry in sorted(state.apps.items()):
            role = "live" if rid == state.live else "warm" if entry.routed else "not routed"
            role = "canary" if state.canary is not None and state.canary.id == rid else role
            app = running.get(sv.pm2.name(rid))
            left = None
            if entry.until is not None:
                left = max(0, int((entry.until - now).total_seconds()))
            apps.append(
                ServeApp(
                    id=rid,
                    role=role,
                    port=entry.port,
                    pm2_status=app.status if app else None,
                    online=app.online if app else 0,
                    memory=app.memory if app else None,
                    stops_at=entry.until,
                    stops_in_seconds=left,
                )
            )
        return apps

    def preview(self, root: DeployRoot, release_id: str, clock: Clock, report: Report) -> int:
        return bluegreen.preview(self.serving(root), release_id, clock, report)

    def reap(self, root: DeployRoot, wait: float, clock: Clock, report: Report) -> list[str]:
        return bluegreen.reap(self.serving(root), wait, clock, report)

    # -- the canary (serving/bgcanary.py) ----------------------------------------------------

    def check_canary(self, root: DeployRoot) -> None:
        self.check(root)

    def start_canary(self, act: Activation, stages: Stages, window: dict[str, int | str]) -> None:
        """Start + check + warm up the app, then split; on HealthFailed the release is marked
        failed and nothing was routed to it."""
        try:
            with stage(act.report, Stage.SWITCH, f"canary: {act.release_id}"):
                bgcanary.start(
                    self.serving(act.root), act.release_id, stages, window, act.clock, act.report
                )
        except (BuildFailed, HealthFailed) as error:
            message = f"{error.message}; no canary was started (all traffic is on {act.previous})"
            mark_failed_best_effort(act, message)
            raise type(error)(message) from None

    def advance_canary(
        self, root: DeployRoot, window: dict[str, int | str], clock: Clock, report: Report
    ) -> int:
        sv = self.serving(root)
        canary = bgcanary.current(root).canary
        assert canary is not None  # current() raised otherwise
        return bgcanary.advance(sv, canary, window, clock()).share

    def promote(self, act: Activation, switched: Switched) -> None:
        with stage(act.report, Stage.SWITCH, f"blue-green: {act.release_id}"):
            bgcanary.promote(self.serving(act.root), act.clock, act.report, switched)

    def abort_canary(self, root: DeployRoot, clock: Clock, report: Report) -> tuple[str, str]:
        canary = bgcanary.abort(self.serving(root), clock, report)
        return canary.id, canary.stable

    def traffic_ports(self, root: DeployRoot) -> dict[int, str]:
        return bgcanary.port_map(read_state(root))

    def watch_probe(
        self, act: Activation, analysis: AnalysisConfig, since: dict[str, int | str]
    ) -> Probe:
        ports = bgcanary.port_map(read_state(act.root))
        log = bgcanary.access_log(act.root)
        from releases_cli.serving.watchprobe import TrafficProbe

        return TrafficProbe.at(log, since, act.release_id, act.previous, ports, analysis)
