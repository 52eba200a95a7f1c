"""`releases up` in reload mode (the restart command, unless the health URL answers) and the
boot hook it prints. Blue-green `up` with a real PM2 and nginx: tests/cli/test_bluegreen_up.py."""

from __future__ import annotations

import os
import shlex
import subprocess
from http.server import ThreadingHTTPServer
from pathlib import Path

from helpers import Cli, deploy_ok, free_port


def configure(root: Path, health_port: int | None, status: int = 200) -> Path:
    """Reload mode with a restart command that appends a line to the file returned."""
    health = f'[health]\nurl = "http://127.0.0.1:{health_port}/"\ntimeout = 2\nstatus = {status}\n'
    (root / "releases.toml").write_text(
        '[restart]\ncommand = "echo restarted >> restarts.log"\n'
        + (health if health_port is not None else "")
    )
    return root / "restarts.log"


def restarts(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_reload_mode_up_restarts_only_when_the_health_url_does_not_answer(
    cli: Cli, root: Path, app: Path, web: ThreadingHTTPServer
) -> None:
    """With [health] url answering, `up` runs nothing; when nothing answers there, it runs the
    restart command, and the health check that follows fails with exit 9 in one line."""
    assert cli("init", "--root", str(root)).returncode == 0
    log = configure(root, web.server_address[1])
    live = deploy_ok(cli, root, app)
    done = restarts(log)
    result = cli("up", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"up: {live} live\n" and restarts(log) == done

    configure(root, free_port())
    failed = cli("up", "--root", str(root))
    assert failed.returncode == 9 and restarts(log) == done + 1
    assert f"{live} is not serving after the restart command" in failed.stderr
    assert len([x for x in failed.stderr.splitlines() if x.startswith("releases: error:")]) == 1


def test_reload_mode_up_takes_the_configured_health_status_as_serving(
    cli: Cli, root: Path, app: Path, web: ThreadingHTTPServer
) -> None:
    """An app whose health URL answers `[health] status` (204 here) is serving: `up`, run at
    every boot or from cron, must not restart production because the answer is not 200."""
    assert cli("init", "--root", str(root)).returncode == 0
    web.status = 204  # type: ignore[attr-defined]
    log = configure(root, web.server_address[1], status=204)
    deploy_ok(cli, root, app)
    done = restarts(log)
    result = cli("up", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert restarts(log) == done


def test_reload_mode_up_without_a_health_url_runs_the_restart_command(
    cli: Cli, root: Path, app: Path
) -> None:
    """Without a health URL nothing can tell whether the app runs: `up` runs the restart
    command (each time); before the first deploy it says nothing is live and runs nothing."""
    assert cli("init", "--root", str(root)).returncode == 0
    log = configure(root, None)
    empty = cli("up", "--root", str(root))
    assert empty.returncode == 0 and empty.stdout == "up: nothing is live\n"
    assert restarts(log) == 0
    deploy_ok(cli, root, app)
    done = restarts(log)
    assert cli("up", "--root", str(root)).returncode == 0
    assert restarts(log) == done + 1


def test_boot_hook_is_a_oneshot_unit_and_a_cron_line(cli: Cli, tmp_path: Path) -> None:
    """--print-boot-hook prints a systemd oneshot unit (after the network, as this user, from /,
    with PATH and PM2_HOME) and an @reboot line for /etc/cron.d, both running `up --root`; a
    root path with `%`, `$` and a space is escaped for each; nothing is changed."""
    root = tmp_path / "shop 100% $HOME"
    root.mkdir()
    assert cli("init", "--root", str(root)).returncode == 0
    before = sorted(p.name for p in root.iterdir())
    path = f"/opt/my tools/bin:{os.environ['PATH']}"  # a PATH entry with a space (WSL has them)
    env = {"PM2_HOME": "/srv/pm2", "PATH": path}
    printed = cli("up", "--root", str(root), "--print-boot-hook", env=env)
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    for expected in ("Type=oneshot", "After=network.target", "WorkingDirectory=/"):
        assert expected in lines
    assert "Environment=PM2_HOME=/srv/pm2" in lines
    assert f'Environment="PATH={path}"' in lines
    assert any(x.startswith("# /etc/systemd/system/releases-up-") and "shop" in x for x in lines)
    assert any(line.startswith("User=") and len(line) > 5 for line in lines)
    (exec_start,) = [x for x in lines if x.startswith("ExecStart=")]
    words = shlex.split(exec_start.removeprefix("ExecStart=").replace("%%", "%").replace("$$", "$"))
    assert words[-6:] == ["up", "--root", str(root), "--wait", "300", "--quiet"]
    (cron,) = [x for x in lines if x.startswith("@reboot ")]
    assert cron.split()[2:4] == ["cd", "/"]
    assert shlex.split(cron.replace("\\%", "%"))[-4] == str(root)
    # As cron runs it: /bin/sh, after `@reboot USER` (cron turns `\%` back into `%`).
    shell = cron.split(" ", 2)[2].replace("\\%", "%")
    ran = subprocess.run(
        ["/bin/sh", "-c", shell], capture_output=True, text=True, timeout=120, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert sorted(p.name for p in root.iterdir()) == before


def test_reload_mode_up_fails_when_nothing_answers_and_nothing_can_restart(
    cli: Cli, root: Path, app: Path
) -> None:
    """A health URL that does not answer and no restart command: exit 9 in one line (the
    site is down and `up` cannot help), rather than a success that hides it."""
    assert cli("init", "--root", str(root)).returncode == 0
    live = deploy_ok(cli, root, app)
    (root / "releases.toml").write_text(
        f'[health]\nurl = "http://127.0.0.1:{free_port()}/"\ntimeout = 1\n'
    )
    result = cli("up", "--root", str(root))
    assert result.returncode == 9
    assert f"no [restart] command to start {live}" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_blue_green_up_refuses_a_damaged_serve_state(cli: Cli, root: Path) -> None:
    """An unreadable serve state is not taken as "nothing runs": `up` starts nothing, exits 7
    in one error line naming the file, and leaves the file as it was."""
    assert cli("init", "--root", str(root)).returncode == 0
    (root / "releases.toml").write_text('[serve]\nmode = "blue-green"\n')
    serve = root / ".releases" / "serve"
    serve.mkdir()
    (serve / "state.json").write_text("{not json")
    result = cli("up", "--root", str(root))
    assert result.returncode == 7, result.stderr
    errors = [x for x in result.stderr.splitlines() if x.startswith("releases: error:")]
    assert len(errors) == 1 and "state.json is unreadable" in errors[0]
    assert (serve / "state.json").read_text() == "{not json"
