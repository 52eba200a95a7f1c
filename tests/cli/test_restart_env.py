"""The restart command's environment in reload mode: a real PM2 (tests/bgstack.py, its own
PM2_HOME) runs the app from a process file, and `pm2 startOrReload --update-env` (the restart
command the docs give) hands the environment it was run with to the app. The deploying shell's
secrets must not get there; serve.env and the release's variables must."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bgstack import ensure_pm2, get, write_app
from helpers import Cli, free_port


class ReloadApp:
    """A deploy root in reload mode whose restart command is `pm2 startOrReload`."""

    def __init__(self, tmp: Path) -> None:
        self.root, self.source, self.pm2 = tmp / "root", tmp / "src", ensure_pm2()
        self.port = free_port()
        self.env = {"PM2_HOME": str(tmp / "pm2home")}
        process_file = tmp / "ecosystem.json"
        app = {
            "name": "shop-reload",
            "cwd": str(self.root / "current"),
            "script": "server.py",
            "args": [str(self.port)],
            "interpreter": "python3",
            "exec_mode": "fork",
        }
        process_file.write_text(json.dumps({"apps": [app]}))
        self.restart = f"{self.pm2} startOrReload {process_file} --update-env"

    def has(self, name: str) -> bool:
        """Whether the running app has `name` in its environment."""
        status, _, body = get(self.port, f"/env?{name}")
        assert status == 200
        return body == "yes"

    def stop(self) -> None:
        subprocess.run(
            [str(self.pm2), "kill"],
            env={**os.environ, **self.env},
            capture_output=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def reload_app(tmp_path: Path, cli: Cli) -> Iterator[ReloadApp]:
    s = ReloadApp(tmp_path)
    s.root.mkdir()
    write_app(s.source)
    assert cli("init", "--root", str(s.root)).returncode == 0
    (s.root / "releases.toml").write_text(
        '[build]\ncommands = []\npreset = "none"\n'
        f"[restart]\ncommand = {json.dumps(s.restart)}\n"
        f'[health]\nurl = "http://127.0.0.1:{s.port}/"\ntimeout = 20\ninterval = 0.1\n'
        '[serve]\nenv = { APP_FLAG = "on" }\n'
    )
    try:
        yield s
    finally:
        s.stop()


@pytest.mark.real_process
def test_deploying_shell_secrets_never_reach_the_reloaded_app(
    cli: Cli, reload_app: ReloadApp
) -> None:
    """Deploy twice (start, then reload with --update-env) from a shell holding WEBHOOK_URL
    and DEPLOY_TOKEN: the app never sees them, yet it gets serve.env, NODE_ENV=production and
    the release's variables, and PM2 (PM2_HOME, PATH from the allowlist) still works."""
    secrets = {"WEBHOOK_URL": "https://hooks.example/secret", "DEPLOY_TOKEN": "t0ken"}
    env = {**reload_app.env, **secrets}
    for _ in range(2):
        result = cli("deploy", "--root", str(reload_app.root), "--source",
                     str(reload_app.source), env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert not reload_app.has("WEBHOOK_URL") and not reload_app.has("DEPLOY_TOKEN")
        for name in ("APP_FLAG", "NODE_ENV", "RELEASE_ID", "DEPLOY_ROOT", "PM2_HOME"):
            assert reload_app.has(name), name
