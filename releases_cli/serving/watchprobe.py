"""What the watch after a flip looks at ([serve] watch, `--watch`), per serving mode:

- blue-green: nginx's access log, the new live release over the window since the flip against
  the previous one's figures before it (analysis.judge decides; with too few requests of the
  previous release, its 5xx-share threshold alone);
- reload mode (no nginx split, no log of ours): the user's app under PM2 restarting (the apps
  `pm2 jlist` shows whose cwd is in the deploy root's `current`; read only, never touched),
  the [health] url failing twice in a row, or a [hooks] check command failing.

A probe only looks; the pipeline (pipelines/watch.py) switches back on a "fail".
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from releases_cli.config import AnalysisConfig, HealthConfig
from releases_cli.core.layout import DeployRoot
from releases_cli.core.run import release_env
from releases_cli.serving import pm2 as pm
from releases_cli.serving.health import probe as http_probe
from releases_cli.serving.traffic import LOOK_BYTES, Cursor, Verdict, Window

CHECK_SECONDS = 60.0  # a [hooks] check command's limit when [hooks] timeout is 0


class Probe(Protocol):
    def look(self) -> Verdict:
        """One look: "fail" (with why), "pass", or "wait" (nothing to judge yet)."""


@dataclass
class TrafficProbe:
    """Blue-green: the live release since the flip against the previous one before it."""

    release_id: str
    previous: str | None
    ports: dict[int, str]
    analysis: AnalysisConfig
    since: Window  # from the flip on
    before: Window  # the log's last LOOK_BYTES before the flip

    @classmethod
    def at(
        cls,
        log: Path,
        flip: Cursor,
        release_id: str,
        previous: str | None,
        ports: dict[int, str],
        analysis: AnalysisConfig,
    ) -> TrafficProbe:
        offset = max(0, int(flip["offset"]) - LOOK_BYTES)
        # Mid-line unless 0: the reader drops up to the next line end (never a truncation).
        start = {**flip, "offset": offset, "skipping": int(offset > 0)}
        before = Window(log, start)
        before.look()  # read once: the baseline does not move
        return cls(release_id, previous, ports, analysis, Window(log, flip), before)

    def look(self) -> Verdict:
        self.since.look()
        return self.since.judge(
            self.release_id, self.previous or "", self.ports, self.analysis, self.before
        )


@dataclass
class ReloadProbe:
    """Reload mode: PM2 restarts of the app in `current`, the health URL, the check hooks."""

    root: DeployRoot
    release_id: str
    previous: str | None
    pm2_command: str
    health: HealthConfig | None
    checks: tuple[str, ...]
    check_timeout: float
    restarts: int | None = None  # at the first look
    unhealthy: int = 0  # health failures in a row
    seen: list[str] = field(default_factory=list)

    def look(self) -> Verdict:
        problem = self._restarted() or self._unhealthy() or self._check_failed()
        if problem:
            return Verdict("fail", problem, {})
        return Verdict("pass", "no restart, health and checks pass", {})

    def _restarted(self) -> str | None:
        count = restarts_in(self.pm2_command, str(self.root.current))
        if count is None:
            return None
        if self.restarts is None:
            self.restarts = count
            return None
        grown = count - self.restarts
        return f"PM2 restarted the app {grown} time(s) since the flip" if grown > 0 else None

    def _unhealthy(self) -> str | None:
        if self.health is None:
            return None
        got = http_probe(self.health.url, min(self.health.timeout, 10))
        if got == self.health.status:
            self.unhealthy = 0
            return None
        self.unhealthy += 1
        return f"{self.health.url} answered {got}" if self.unhealthy >= 2 else None

    def _check_failed(self) -> str | None:
        release = self.root.release(self.release_id)
        env = {**os.environ, **release_env(self.root, self.release_id, self.previous)}
        for command in self.checks:
            try:
                done = subprocess.run(
                    ["/bin/sh", "-c", command],
                    cwd=release,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=self.check_timeout or CHECK_SECONDS,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return f"[hooks] check {shlex.quote(command)} timed out"
            except OSError as error:
                return f"[hooks] check {shlex.quote(command)}: {error.strerror}"
            if done.returncode != 0:
                return f"[hooks] check {shlex.quote(command)} exited {done.returncode}"
        return None


def restarts_in(command: str, current: str) -> int | None:
    """PM2's restart count summed over the apps whose cwd is in `current` (the link, or the
    release it names); None when PM2 does not run or cannot be asked (never started to look)."""
    if not pm.daemon_running():
        return None
    try:
        done = subprocess.run(
            [*shlex.split(command), "jlist"],
            capture_output=True,
            text=True,
            env=pm.run_env(),
            timeout=pm.COMMAND_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        apps = pm.parse_jlist(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    if apps is None:
        return None
    target = os.path.realpath(current)
    total = 0
    for app in apps:
        env = app.get("pm2_env")
        cwd = env.get("pm_cwd") if isinstance(env, dict) else None
        if not isinstance(cwd, str):
            continue
        inside = os.path.realpath(cwd)
        if (
            cwd == current
            or cwd.startswith(current + "/")
            or inside == target
            or (inside.startswith(target + "/"))
        ):
            restarts = env.get("restart_time") if isinstance(env, dict) else 0
            total += restarts if isinstance(restarts, int) and not isinstance(restarts, bool) else 0
    return total
