"""Restart + health check + automatic switch-back, with a real HTTP server started by the
restart command from `current`, and hooks at their named points."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok, free_port, history_of, meta_of, tree_state

# The app's server: serves its own release's files on 127.0.0.1:PORT, writes its pid file
# (atomically) once it listens, so the restart command and the test can stop it.
SERVER = """\
import functools, http.server, os, sys
port, pidfile = int(sys.argv[1]), sys.argv[2]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=os.getcwd())
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
with open(pidfile + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace(pidfile + ".tmp", pidfile)
server.serve_forever()
"""
BROKEN_SERVER = "import sys\nsys.exit('server: cannot start (missing configuration)')\n"

# Stop the old server (bounded wait until it is gone or a zombie: its socket is closed then,
# and orphans may never be reaped in a container), then start the new one from `current`.
RESTART = """\
#!/bin/sh
pidfile="$1"; port="$2"; log="$3"
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile"); kill "$pid" 2>/dev/null; rm -f "$pidfile"
  for _ in $(seq 100); do
    state=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) || break
    [ "$state" = Z ] && break
    sleep 0.05
  done
fi
cd "$DEPLOY_ROOT/current" || exit 1
echo "restart: starting $RELEASE_ID (was $PREVIOUS_RELEASE_ID)"
nohup python3 server.py "$port" "$pidfile" >>"$log" 2>&1 &
"""


class AppServer:
    """The paths and port the restart command uses, and an HTTP client for the test."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.pidfile = tmp / "server.pid"
        self.log = tmp / "server.log"
        self.script = tmp / "restart.sh"
        self.script.write_text(RESTART)
        self.script.chmod(0o755)

    @property
    def restart(self) -> str:
        return f"{self.script} {self.pidfile} {self.port} {self.log}"

    def url(self, path: str = "/index.html") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str = "/index.html") -> str:
        with urllib.request.urlopen(self.url(path), timeout=5) as response:
            return str(response.read().decode())

    def stop(self) -> None:
        try:
            pid = int(self.pidfile.read_text())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(100):  # bounded: the server exits at once on SIGTERM
            if _gone(pid):
                return
            time.sleep(0.05)


def _gone(pid: int) -> bool:
    """Exited (a zombie counts: orphans are not always reaped inside containers)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AppServer]:
    srv = AppServer(tmp_path)
    yield srv
    srv.stop()


def _config(root: Path, server: AppServer, extra: str = "") -> None:
    (root / "releases.toml").write_text(
        f"[restart]\ncommand = {json.dumps(server.restart)}\ntimeout = 30\n"
        f"[health]\nurl = {json.dumps(server.url())}\ntimeout = 4\ninterval = 0.1\n{extra}"
    )


def _version(app: Path, text: str, *, broken: bool = False) -> None:
    (app / "index.html").write_text(text)
    (app / "server.py").write_text(BROKEN_SERVER if broken else SERVER)


def _new_release(root: Path, known: set[str]) -> str:
    (new,) = {p.name for p in (root / "releases").iterdir()} - known
    return new


def test_unhealthy_release_is_switched_back_and_old_release_serves_again(
    cli: Cli, root: Path, app: Path, server: AppServer
) -> None:
    """A release whose server never starts: exit 9, `current` back on the previous release,
    whose server (restarted from `current`) answers with the old content; the bad release is
    marked failed, kept on disk (nothing pruned), and rollback never picks it."""
    _config(root, server)
    _version(app, "v0\n")
    v0 = deploy_ok(cli, root, app)
    _version(app, "v1\n")
    v1 = deploy_ok(cli, root, app, "--keep", "1")
    assert server.get() == "v1\n"
    known = {v0, v1}

    _version(app, "v2\n", broken=True)
    result = cli("deploy", "--root", str(root), "--source", str(app), "--keep", "1")
    assert result.returncode == 9, result.stderr
    v2 = _new_release(root, known)
    assert "did not answer 200" in result.stderr
    assert f"switched back to {v1}, which is serving again" in result.stderr
    assert current_id(root) == v1
    assert server.get() == "v1\n", "the previous release's server is serving again"
    assert meta_of(root, v2)["status"] == "failed"
    assert (root / "releases" / v2).is_dir(), "a failed deploy prunes nothing"
    assert (root / "releases" / v0).is_dir()
    failed = [e for e in history_of(root) if e["event"] == "deploy_failed"]
    assert [e["id"] for e in failed] == [v2]
    assert not any(e["event"] == "deploy_finished" and e["id"] == v2 for e in history_of(root))

    result = cli("rollback", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert current_id(root) == v0, "rollback skips the failed release"
    assert server.get() == "v0\n", "rollback restarted the app from `current`"
    refused = cli("rollback", "--root", str(root), "--to", v2)
    assert refused.returncode == 3 and "failed" in refused.stderr


def test_build_id_check_catches_an_old_build_still_served(
    cli: Cli, root: Path, app: Path, server: AppServer
) -> None:
    """Next.js-style release (.next/BUILD_ID): when the restart does not move the server over
    (it keeps serving the old release), `/` still answers 200 but the new build's
    `_buildManifest.js` does not, so the deploy is switched back (exit 9). With a working
    restart the same check passes."""
    build = (
        "mkdir -p .next/static/b-$RELEASE_ID _next && echo b-$RELEASE_ID > .next/BUILD_ID && "
        "touch .next/static/b-$RELEASE_ID/_buildManifest.js && ln -s ../.next/static _next/static"
    )
    _config(root, server)
    _version(app, "v1\n")
    v1 = deploy_ok(cli, root, app, "--build", build)
    v2 = deploy_ok(cli, root, app, "--build", build)
    assert server.get(f"/_next/static/b-{v2}/_buildManifest.js") == ""

    result = cli(
        "deploy", "--root", str(root), "--source", str(app), "--build", build, "--restart", "true"
    )
    assert result.returncode == 9, result.stderr
    assert "_buildManifest.js did not answer 200" in result.stderr
    assert "the new build is not the one being served" in result.stderr
    assert current_id(root) == v2
    assert v1 != v2


def test_restart_failure_switches_back_and_reports_both_failures(
    cli: Cli, root: Path, app: Path
) -> None:
    """A restart command that fails: switched back; the restart for the previous release fails
    too, and the message says so (no loop, one switch back), exit 9."""
    first = deploy_ok(cli, root, app)
    result = cli("deploy", "--root", str(root), "--source", str(app), "--restart", "exit 3")
    assert result.returncode == 9
    assert "restart command 'exit 3' failed with exit code 3" in result.stderr
    assert f"switched back to {first}, but it is not healthy either" in result.stderr
    assert current_id(root) == first
    switches = [e for e in history_of(root) if e["event"] == "switch"]
    assert [e["id"] for e in switches][-1] == first
    assert switches[-1]["automatic"] is True


def test_first_release_unhealthy_leaves_nothing_live(
    cli: Cli, root: Path, app: Path, server: AppServer
) -> None:
    """With no previous release, a failed health check removes `current` again (a failed
    release is never left current) and exits 9."""
    _config(root, server)
    _version(app, "v1\n", broken=True)
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 9, result.stderr
    assert "no previous release" in result.stderr
    assert not os.path.lexists(root / "current")
    (only,) = os.listdir(root / "releases")
    assert meta_of(root, only)["status"] == "failed"


def test_rollback_whose_health_fails_stays_on_target(
    cli: Cli, root: Path, app: Path, server: AppServer
) -> None:
    """Rollback to a release whose server cannot start: exit 9 naming the target, `current`
    stays on the target (no switching back to the release being rolled away from), and the
    target is not marked failed."""
    _version(app, "v1\n", broken=True)
    v1 = deploy_ok(cli, root, app)  # no health configured yet: goes live
    _config(root, server)
    _version(app, "v2\n")
    v2 = deploy_ok(cli, root, app)
    result = cli("rollback", "--root", str(root))
    assert result.returncode == 9
    assert f"rolled back to {v1}, but health check" in result.stderr
    assert f"current stays {v1}" in result.stderr
    assert current_id(root) == v1
    assert meta_of(root, v1)["status"] == "complete"
    assert [e["event"] for e in history_of(root)][-1] == "rollback_unhealthy"
    assert v2 != v1


HOOK = 'echo "$RELEASES_HOOK $RELEASE_ID $PREVIOUS_RELEASE_ID $DEPLOY_ROOT $PWD" >> {log}'


def _hooks_config(root: Path, log: Path, **override: str) -> None:
    lines = ["[hooks]"]
    for point in ("before_build", "after_build", "before_switch", "after_switch"):
        lines.append(f"{point} = [{json.dumps(override.get(point, HOOK.format(log=log)))}]")
    lines.append(f"after_rollback = [{json.dumps(HOOK.format(log=log))}]")
    on_failure = f'echo "on_failure $RELEASE_ID $RELEASES_ERROR" >> {log}'
    lines.append(f"on_failure = [{json.dumps(on_failure)}]")
    restart = f'echo "restart $RELEASE_ID $PREVIOUS_RELEASE_ID $DEPLOY_ROOT $PWD" >> {log}'
    lines.append(f"[restart]\ncommand = {json.dumps(restart)}")
    (root / "releases.toml").write_text("\n".join(lines) + "\n")


def test_hooks_run_in_order_with_release_variables(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """Deploy runs before_build, after_build, before_switch, restart, after_switch, in that
    order, each with RELEASE_ID/PREVIOUS_RELEASE_ID/DEPLOY_ROOT; hooks run in the release,
    the restart in the deploy root. Rollback runs restart then after_rollback."""
    log = tmp_path / "hooks.log"
    _hooks_config(root, log)
    first = deploy_ok(cli, root, app)
    log.unlink()
    second = deploy_ok(cli, root, app)
    rel = root / "releases" / second
    assert log.read_text().splitlines() == [
        f"before_build {second} {first} {root} {rel}",
        f"after_build {second} {first} {root} {rel}",
        f"before_switch {second} {first} {root} {rel}",
        f"restart {second} {first} {root} {root}",
        f"after_switch {second} {first} {root} {rel}",
    ]
    log.unlink()
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert log.read_text().splitlines() == [
        f"restart {first} {second} {root} {root}",
        f"after_rollback {first} {second} {root} {root / 'releases' / first}",
    ]
    assert 'echo "restart' in (root / ".releases" / "logs" / f"{second}.log").read_text()


def test_failing_before_switch_hook_leaves_current_untouched(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """A failing before_switch hook: exit 6, `current` and the previous release untouched, no
    restart, the new release marked failed, and on_failure told what failed."""
    log = tmp_path / "hooks.log"
    _hooks_config(root, log)
    first = deploy_ok(cli, root, app)
    _hooks_config(root, log, before_switch="exit 7")
    log.unlink()
    link_before = os.readlink(root / "current")
    first_before = tree_state(root / "releases" / first)
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 6
    assert "before_switch hook 'exit 7' failed with exit code 7; current is unchanged" in (
        result.stderr
    )
    assert os.readlink(root / "current") == link_before
    assert tree_state(root / "releases" / first) == first_before
    new = _new_release(root, {first})
    assert meta_of(root, new)["status"] == "failed"
    lines = log.read_text().splitlines()
    assert not any(line.startswith("restart") for line in lines)
    assert lines[-1].startswith(f"on_failure {new} before_switch hook 'exit 7' failed")


def test_failing_before_build_hook_aborts_before_the_build(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """A failing before_build hook: exit 6, the build command never runs, nothing switched."""
    log = tmp_path / "hooks.log"
    _hooks_config(root, log, before_build="false")
    marker = tmp_path / "built"
    result = cli("deploy", "--root", str(root), "--source", str(app), "--build", f"touch {marker}")
    assert result.returncode == 6
    assert "before_build hook 'false' failed with exit code 1" in result.stderr
    assert not marker.exists()
    assert not os.path.lexists(root / "current")


def test_on_failure_runs_for_a_failed_build_and_after_switch_failure_only_warns(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """A failing build runs on_failure with the error (exit 6); a failing after_switch hook
    leaves the healthy deploy in place (exit 0) with a warning."""
    log = tmp_path / "hooks.log"
    _hooks_config(root, log)
    result = cli("deploy", "--root", str(root), "--source", str(app), "--build", "exit 4")
    assert result.returncode == 6
    failed = _new_release(root, set())
    assert (
        log.read_text()
        .splitlines()[-1]
        .startswith(f"on_failure {failed} build command 'exit 4' failed with exit code 4")
    )
    _hooks_config(root, log, after_switch="exit 5")
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 0, result.stderr
    assert "warning: after_switch hook 'exit 5' failed with exit code 5; continuing" in (
        result.stderr
    )
    assert current_id(root) != failed


def test_crash_while_switching_back_never_leaves_a_bad_release_to_roll_back_to(
    cli: Cli, root: Path, app: Path
) -> None:
    """SIGKILL after the unhealthy release is marked failed but before the switch back:
    `current` is on a release doctor reports as failed, and rollback moves to the previous
    one. SIGKILL right after the switch back (history not written): rollback never picks
    the failed release (nothing to roll back to, exit 4)."""
    first = deploy_ok(cli, root, app)
    bad = ("deploy", "--root", str(root), "--source", str(app), "--restart", "exit 3")
    result = cli(*bad, env={"RELEASES_FAULT": "after_mark_failed"})
    assert result.returncode == -signal.SIGKILL
    second = current_id(root)
    assert second != first and meta_of(root, second)["status"] == "failed"
    doctor = cli("doctor", "--root", str(root))
    assert doctor.returncode == 10 and f"--to {first}" in doctor.stdout
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert current_id(root) == first

    result = cli(*bad, env={"RELEASES_FAULT": "after_switch_back"})
    assert result.returncode == -signal.SIGKILL
    assert current_id(root) == first
    result = cli("rollback", "--root", str(root))
    assert result.returncode == 4 and "nothing to roll back to" in result.stderr
    assert current_id(root) == first
