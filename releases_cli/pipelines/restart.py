"""The restart command: tell the app's process manager that `current` moved.

It runs after every switch (deploy, rollback, and the automatic switch-back after a failed
health check) in the deploy root, with RELEASE_ID, RELEASE_PATH, PREVIOUS_RELEASE_ID and
DEPLOY_ROOT set, its output streamed and appended to the release's log. It deliberately does not
run inside the release: a process manager that records its own cwd (PM2 does) would then record
the resolved releases/<id> path and keep serving that release after later switches.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from releases_cli.config import RestartConfig
from releases_cli.pipelines.run import run_logged


def run_restart(
    spec: RestartConfig,
    cwd: Path,
    log_path: Path,
    env: Mapping[str, str],
    echo: TextIO | None = None,
) -> str | None:
    """Run the restart command; None when it succeeded, else what went wrong (one line)."""
    timeout = spec.timeout if spec.timeout > 0 else None
    try:
        code = run_logged(spec.command, cwd, log_path, env, echo, timeout)
    except subprocess.TimeoutExpired:
        return f"restart command {spec.command!r} timed out after {spec.timeout:g}s"
    if code != 0:
        return f"restart command {spec.command!r} failed with exit code {code}"
    return None
