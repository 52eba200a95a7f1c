"""PM2 for blue-green serving: one app per release, from a generated process file.

The process file (`.releases/serve/<id>.pm2.json`) is data: args and env are JSON, not shell
words. The app's cwd is the release directory itself (never the `current` link), so a restart
by PM2 stays on that build. `pm2` runs with a minimal, explicit environment: PM2 copies the
environment of whoever runs `pm2 start` into the app, and a deploy shell's variables must not
leak into production processes.

Ownership: the PM2 of a server also runs apps we did not start (`shop-worker`, `shop-cron`, or
one an operator named like ours). An app is ours only when its name is exactly `<app>-<id>`
(a valid release id) and its environment carries OWNER_VAR = this deploy root, which only our
process files set; nothing else is ever listed as ours, stopped or deleted.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releases_cli.core.errors import one_line
from releases_cli.core.fs import atomic_write
from releases_cli.core.ids import is_valid_id

COMMAND_SECONDS = 120
KILL_TIMEOUT_MS = 5000  # a straggler request gets this long after SIGINT
OWNER_VAR = "RELEASES_OWNER"  # in every app we start: the deploy root it belongs to


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
    owner: str  # the deploy root, symlinks resolved: OWNER_VAR's value in our apps

    def name(self, release_id: str) -> str:
        """`<app>-<id>`: never all digits (PM2 would read a number as a process id)."""
        return f"{self.app}-{release_id}"

    def release_of(self, name: str) -> str | None:
        """The release id when `name` is exactly `<app>-<id>`, else None."""
        release_id = name.removeprefix(f"{self.app}-")
        return release_id if release_id != name and is_valid_id(release_id) else None


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
        "env": env | dict(pm2.env) | {OWNER_VAR: pm2.owner},
    }
    if pm2.interpreter != "node":
        app["interpreter"] = pm2.interpreter
    return {"apps": [app]}


def run_env() -> dict[str, str]:
    """What `pm2` itself gets: PATH, HOME, PM2_HOME and the locale, nothing else."""
    keep = ("PATH", "HOME", "PM2_HOME", "LANG", "LC_ALL")
    return {name: os.environ[name] for name in keep if name in os.environ}


def daemon_running() -> bool:
    """Whether the PM2 daemon of $PM2_HOME (default ~/.pm2) runs: every `pm2` command but
    `ping` starts one when it does not, which a read-only command must not do."""
    home = Path(os.environ.get("PM2_HOME") or Path.home() / ".pm2")
    try:
        pid = int((home / "pm2.pid").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


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


def delete(pm2: Pm2, release_id: str, listed: Listed | None = None) -> str | None:
    """`pm2 delete <app>-<id>` when that app is ours (by `listed`, a fresh list_apps when None;
    an app PM2 does not know is already gone); None when done, else why it was left alone."""
    name = pm2.name(release_id)
    listed = listed if listed is not None else list_apps(pm2)
    if listed is None:
        return f"could not list PM2 apps (pm2 jlist failed); {name} was left alone"
    if name in listed.foreign:
        return f"PM2 app {name} was not started by releases for {pm2.owner}; left alone"
    if name in listed.ours:
        delete_ours(pm2, release_id)
    return None


def delete_ours(pm2: Pm2, release_id: str) -> None:
    """`pm2 delete <app>-<id>` of an app `jlist` just listed as ours."""
    try:
        _pm2(pm2, "delete", pm2.name(release_id))
    except (OSError, subprocess.TimeoutExpired):
        return


def parse_jlist(output: str) -> list[dict[str, Any]]:
    """The app list from `pm2 jlist` output; PM2 may print lines first (`[PM2] Spawning PM2
    daemon ...` when it had to start its daemon)."""
    for line in reversed(output.splitlines()):
        if not line.lstrip().startswith("["):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, list):
            return [app for app in value if isinstance(app, dict)]
    raise ValueError("no JSON app list in `pm2 jlist` output")


@dataclass(frozen=True)
class Running:
    """One PM2 app as `pm2 jlist` shows it (instances summed)."""

    name: str
    online: int  # instances online
    memory: int  # bytes, RSS summed
    status: str = "online"  # PM2's status: "online" when every instance is, else the first other


@dataclass(frozen=True)
class Listed:
    ours: dict[str, Running]  # by name
    foreign: frozenset[str]  # names of our shape whose marker is missing or another root's


def jlist(pm2: Pm2) -> dict[str, Running] | None:
    """Our apps PM2 runs, by name; None when PM2 cannot be asked."""
    listed = list_apps(pm2)
    return None if listed is None else listed.ours


def all_apps(command: str, timeout: float = COMMAND_SECONDS) -> list[dict[str, Any]]:
    """Every app `pm2 jlist` lists (ours and everyone's), the one place its output is read.
    Raises OSError, subprocess.TimeoutExpired or ValueError (a failed or unreadable listing)."""
    done = subprocess.run(
        [*shlex.split(command), "jlist"],
        capture_output=True,
        text=True,
        env=run_env(),
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise ValueError(f"`pm2 jlist` exited with {done.returncode}")
    return parse_jlist(done.stdout)


def list_apps(pm2: Pm2) -> Listed | None:
    """Our apps and the names of our shape that are not ours; None when PM2 cannot be asked."""
    try:
        items = all_apps(pm2.command)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    found: dict[str, Running] = {}
    foreign: set[str] = set()
    for item in items:
        name = item.get("name")
        release_id = pm2.release_of(name) if isinstance(name, str) else None
        if not isinstance(name, str) or release_id is None:
            continue
        env = item.get("pm2_env")
        env = env if isinstance(env, dict) else {}
        if not ours(env, pm2.owner, release_id):
            foreign.add(name)  # an instance without our marker makes the whole name not ours
            continue
        status = str(env.get("status") or "unknown")[:40]
        monit = item.get("monit")
        memory = monit.get("memory") if isinstance(monit, dict) else 0
        was = found.get(name, Running(name, 0, 0))
        online = was.online + (status == "online")
        shown = was.status if was.status != "online" else status
        found[name] = Running(name, online, was.memory + _count(memory), shown)
    return Listed({n: r for n, r in found.items() if n not in foreign}, frozenset(foreign))


def ours(env: dict[str, object], owner: str, release_id: str) -> bool:
    """Whether a PM2 app (its pm2_env) was started by releases for this deploy root: its
    OWNER_VAR names the root (`owner`, resolved; however the root was spelled then); or,
    started before apps were marked, it has no OWNER_VAR and runs in exactly this root's
    releases/<its id> (so an upgrade strands no app)."""
    inner = env.get("env")
    mark = (inner if isinstance(inner, dict) else env).get(OWNER_VAR, env.get(OWNER_VAR))
    if mark is not None:
        return isinstance(mark, str) and _same_path(mark, owner)
    cwd = env.get("pm_cwd")
    return isinstance(cwd, str) and _same_path(cwd, str(Path(owner) / "releases" / release_id))


def _same_path(given: str, resolved: str) -> bool:
    return given == resolved or os.path.realpath(given) == resolved


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
