"""Hooks: the operator's shell commands at named points of a deploy or rollback.

Every hook sees the same variables as build commands (RELEASE_ID, RELEASE_PATH,
PREVIOUS_RELEASE_ID, DEPLOY_ROOT), runs in the release directory, and has its output streamed
and appended to the release's log. A failing `before_*` or `after_build` hook aborts (the caller
turns that into BuildFailed with `current` untouched); a failing `after_switch`,
`after_rollback` or `on_failure` hook only warns, because by then what it reports on has
already happened and undoing a healthy switch over a notification script would be worse.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple, TextIO

from releases_cli.config import HookPoint, HooksConfig
from releases_cli.core.report import Report, echo_for, stage
from releases_cli.core.run import run_logged


class HookFailure(NamedTuple):
    point: HookPoint
    command: str
    code: int | None  # None: timed out
    timeout: float = 0

    def describe(self) -> str:
        outcome = (
            f"timed out after {self.timeout:g}s (hooks.timeout) and was stopped"
            if self.code is None
            else f"failed with exit code {self.code}"
        )
        return f"{self.point} hook {self.command!r} {outcome}"


def run_hooks(
    hooks: HooksConfig,
    point: HookPoint,
    cwd: Path,
    log_path: Path,
    env: Mapping[str, str],
    report: Report,
    echo: TextIO | None = None,
) -> HookFailure | None:
    """Run the point's commands in order; stop at and return the first failure (a command
    still running after `hooks.timeout` seconds has its process group killed and fails)."""
    timeout = hooks.timeout or None
    full_env = {**env, "RELEASES_HOOK": point}
    for command in hooks.at(point):
        with stage(report, f"hook {point}", f"$ {command}") as running:
            try:
                code: int | None = run_logged(
                    command, cwd, log_path, full_env, echo_for(report, echo), timeout
                )
            except subprocess.TimeoutExpired:
                code = None
            if code != 0:
                failure = HookFailure(point, command, code, hooks.timeout)
                running.fail(failure.describe())
                return failure
    return None
