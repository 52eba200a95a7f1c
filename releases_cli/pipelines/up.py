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

import re
import shlex

from releases_cli.config import Config
from releases_cli.core.clock import Clock
from releases_cli.core.layout import DeployRoot
from releases_cli.core.recovery import exclusive
from releases_cli.core.report import Report
from releases_cli.serving.strategies import for_config
from releases_cli.serving.strategy import Up

__all__ = ["Up", "boot_hook", "up"]


def up(root: DeployRoot, cfg: Config, wait: float, clock: Clock, report: Report) -> Up:
    """`releases up`, under the lock: the serving strategy starts what its state says runs."""
    with exclusive(root, wait, clock, report):
        return for_config(cfg).up(root, clock, report)


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
