"""The restart command: tell the app's process manager that `current` moved.

It runs after every switch (deploy, rollback, and the automatic switch-back after a failed
health check) in the deploy root, with RELEASE_ID, RELEASE_PATH, PREVIOUS_RELEASE_ID and
DEPLOY_ROOT set, its output streamed and appended to the release's log. It deliberately does not
run inside the release: a process manager that records its own cwd (PM2 does) would then record
the resolved releases/<id> path and keep serving that release after later switches.

Its environment is controlled, as a blue-green app's is (serving/pm2.py): `pm2 reload
--update-env` hands the environment of whoever runs it to the app, so the deploying shell's
(a WEBHOOK_URL, a *_TOKEN) must not get there. It gets the allowlist below, NODE_ENV, the
configured `serve.env` and the release's variables; nothing else of ours.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

from releases_cli.config import RestartConfig
from releases_cli.core.run import run_logged
from releases_cli.serving.pm2 import run_env

# Beside what `pm2` itself gets (PATH, HOME, PM2_HOME, LANG, LC_ALL): who we are, the time
# zone, and what `systemctl --user` needs to reach the user's service manager.
SESSION = ("USER", "LOGNAME", "TZ", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")


def restart_env(
    release: Mapping[str, str], configured: Iterable[tuple[str, str]]
) -> dict[str, str]:
    """The restart command's whole environment: the allowlist from ours, NODE_ENV=production,
    `configured` (serve.env) over those, the release's variables over everything."""
    kept = run_env() | {name: os.environ[name] for name in SESSION if name in os.environ}
    return kept | {"NODE_ENV": "production"} | dict(configured) | dict(release)


def run_restart(
    spec: RestartConfig,
    cwd: Path,
    log_path: Path,
    env: Mapping[str, str],
    echo: TextIO | None = None,
) -> str | None:
    """Run the restart command with exactly `env` (restart_env); None when it succeeded, else
    what went wrong (one line)."""
    timeout = spec.timeout if spec.timeout > 0 else None
    try:
        code = run_logged(spec.command, cwd, log_path, env, echo, timeout, inherit=False)
    except subprocess.TimeoutExpired:
        return f"restart command {spec.command!r} timed out after {spec.timeout:g}s"
    if code != 0:
        return f"restart command {spec.command!r} failed with exit code {code}"
    return None
