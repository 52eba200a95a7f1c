"""`releases up`: bring the processes back to what the deploy root's state says, at boot or at
any time. Idempotent: what already runs is left alone, so a second run changes nothing.

Blue-green: the serve state is the only truth across reboots (PM2's own list is never saved:
app names change with every deploy). Crash recovery, then the live app and warm apps within
their grace started again on their ports, nginx given the state again if a port moved, apps
past their grace stopped. Reload mode: one app, named and configured by the user's own PM2
setup; it is restarted with the restart command only when the health URL does not answer
(without a health URL the restart command always runs: nothing else can tell).
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import sys
from pathlib import Path

from releases_cli import config
from releases_cli.core.clock import Clock
from releases_cli.core.errors import InvalidInput
from releases_cli.core.layout import DeployRoot
from releases_cli.core.recovery import exclusive
from releases_cli.core.report import Report
from releases_cli.serving.strategies import for_config
from releases_cli.serving.strategy import Up

__all__ = ["Up", "boot_hook", "up"]


def up(root: DeployRoot, wait: float, clock: Clock, report: Report) -> Up:
    """`releases up`, under the lock: the serving strategy starts what its state says runs."""
    strategy = for_config(config.load(root))
    with exclusive(root, wait, clock, report):
        return strategy.up(root, clock, report)


def boot_hook_for(root: DeployRoot, argv0: str) -> str:
    """The boot hook for this root (releases.toml must load), run as this user with this PATH
    and PM2_HOME; `argv0`: how releases was started (the script, or `python -m`)."""
    config.load(root)
    program = [os.path.abspath(argv0)]
    if Path(argv0).name != "releases":  # python -m releases_cli, or in process
        # -P (3.11+) keeps the cwd off sys.path; the hook also runs from /, which 3.10 relies on.
        safe_path = ["-P"] if sys.version_info >= (3, 11) else []
        program = [sys.executable, *safe_path, "-m", "releases_cli"]
    env = {k: os.environ[k] for k in ("PATH", "PM2_HOME") if os.environ.get(k)}
    words = [*program, str(root.path), *env.values()]
    if any(ch < " " or ch == "\x7f" for word in words for ch in word):
        raise InvalidInput(
            "a path for the boot hook holds a control character (a unit or crontab line "
            "cannot carry it); nothing was printed"
        )
    return boot_hook(root, program, getpass.getuser(), env)


def boot_hook(root: DeployRoot, program: list[str], user: str, env: dict[str, str]) -> str:
    """A systemd unit and an /etc/cron.d line that run `up` at boot as `user` (choose one).
    `program`: how to run releases; `env`: PATH and PM2_HOME as the deploying user has them
    (a boot has neither)."""
    command = shlex.join([*program, "up", "--root", str(root.path), "--wait", "300", "--quiet"])
    # The whole path: two roots named `shop` in different directories get two units.
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(root.path).strip("/")) or "root"
    unit_env = "".join(f"Environment={_unit_assignment(k, v)}\n" for k, v in env.items())
    # env(1), not `NAME=value cmd`: a quoted `'PATH=/a b'` is not an assignment to sh.
    cron_env = shlex.join(["env", *(f"{k}={v}" for k, v in env.items())])
    cron = f"@reboot {user} cd / && {cron_env} {command}".replace("%", "\\%")  # % is a newline
    return (
        f"# /etc/systemd/system/releases-up-{name}.service\n"
        f"# then: systemctl daemon-reload && systemctl enable releases-up-{name}\n"
        "[Unit]\n"
        f"Description=releases up: start the apps {_unit(str(root.path))} serves\n"
        "After=network.target\n"
        "Wants=network.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"User={user}\n"
        "WorkingDirectory=/\n"
        f"{unit_env}"
        f"ExecStart={_unit(command)}\n\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n\n"
        f"# Or instead of the unit, /etc/cron.d/releases-up-{name}:\n"
        f"{cron}\n"
    )


def _unit(text: str) -> str:
    """`text` in a systemd unit's ExecStart: `%` and `$` are specifiers and variables there."""
    return text.replace("%", "%%").replace("$", "$$")


def _unit_assignment(name: str, value: str) -> str:
    """NAME=value for Environment=: `%` is a specifier there (`$` is not expanded); quoted,
    C-style, when it holds a space, a quote or a backslash."""
    text = f"{name}={value}".replace("%", "%%")
    if not any(ch.isspace() or ch in "\"'\\" for ch in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
