"""PM2 for blue-green serving: one app per release, from a generated process file.

The process file (`.releases/serve/<id>.pm2.json`) is data: args and env are JSON, not shell
words. The app's cwd is the release directory itself (never the `current` link), so a restart
by PM2 stays on that build. `pm2` runs with a minimal, explicit environment: PM2 copies the
environment of whoever runs `pm2 start` into the app, and a deploy shell's variables must not
leak into production processes.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from releases_cli.core.errors import one_line
from releases_cli.core.fs import atomic_write

COMMAND_SECONDS = 120
KILL_TIMEOUT_MS = 5000  # a straggler request gets this long after SIGINT


@dataclass(frozen=True)
class Pm2:
    """How to run PM2 and what every app gets (from [serve])."""

    command: str  # the pm2 program
    app: str  # name prefix
    instances: int
    exec_mode: str
    start: tuple[str, ...]  # script (relative to the release) + args, {port} substituted
    interpreter: str
    env: tuple[tuple[str, str], ...]

    def name(self, release_id: str) -> str:
        """`<app>-<id>`: never all digits (PM2 would read a number as a process id)."""
        return f"{self.app}-{release_id}"


def process_file(pm2: Pm2, release_id: str, release: Path, port: int) -> dict[str, object]:
    """The PM2 process file of one release's app."""
    words = [word.replace("{port}", str(port)) for word in pm2.start]
    env = {"NODE_ENV": "production", "PORT": str(port), "NEXT_DEPLOYMENT_ID": release_id}
    app: dict[str, object] = {
        "name": pm2.name(release_id),
        "cwd": str(release),
        "script": words[0],
        "args": words[1:],
        "exec_mode": pm2.exec_mode,
        "instances": pm2.instances if pm2.exec_mode == "cluster" else 1,
        "kill_timeout": KILL_TIMEOUT_MS,
        "autorestart": True,
        "max_restarts": 10,
        "env": env | dict(pm2.env),
    }
    if pm2.interpreter != "node":
        app["interpreter"] = pm2.interpreter
    return {"apps": [app]}


def run_env() -> dict[str, str]:
    """What `pm2` itself gets: PATH, HOME, PM2_HOME and the locale, nothing else."""
    keep = ("PATH", "HOME", "PM2_HOME", "LANG", "LC_ALL")
    return {name: os.environ[name] for name in keep if name in os.environ}


def _pm2(pm2: Pm2, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [*shlex.split(pm2.command), *args]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=run_env(),
        timeout=COMMAND_SECONDS,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def start(pm2: Pm2, release_id: str, release: Path, port: int, file: Path) -> str | None:
    """Write the process file and `pm2 start` it; None when PM2 accepted it, else why not."""
    body = process_file(pm2, release_id, release, port)
    atomic_write(file, (json.dumps(body, indent=2) + "\n").encode())
    try:
        done = _pm2(pm2, "start", str(file))
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{pm2.command} start: {error}"
    if done.returncode != 0:
        return f"pm2 start exited {done.returncode}: {one_line(done.stderr or done.stdout, 300)}"
    return None


def delete(pm2: Pm2, release_id: str) -> None:
    """`pm2 delete <app>-<id>`; an app PM2 does not know is already gone."""
    try:
        _pm2(pm2, "delete", pm2.name(release_id))
    except (OSError, subprocess.TimeoutExpired):
        return


@dataclass(frozen=True)
class Running:
    """One PM2 app as `pm2 jlist` shows it (instances summed)."""

    name: str
    online: int  # instances online
    memory: int  # bytes, RSS summed
    status: str = "online"  # PM2's status: "online" when every instance is, else the first other


def jlist(pm2: Pm2) -> dict[str, Running] | None:
    """Our apps PM2 runs, by name; None when PM2 cannot be asked."""
    try:
        done = _pm2(pm2, "jlist")
    except (OSError, subprocess.TimeoutExpired):
        return None
    start_at = done.stdout.find("[")
    if done.returncode != 0 or start_at < 0:
        return None
    try:
        items = json.loads(done.stdout[start_at:])
    except ValueError:
        return None
    found: dict[str, Running] = {}
    for item in items if isinstance(items, list) else []:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.startswith(f"{pm2.app}-"):
            continue
        status = str((item.get("pm2_env") or {}).get("status") or "unknown")[:40]
        memory = (item.get("monit") or {}).get("memory") or 0
        was = found.get(name, Running(name, 0, 0))
        online = was.online + (status == "online")
        shown = was.status if was.status != "online" else status
        found[name] = Running(name, online, was.memory + int(memory), shown)
    return found
