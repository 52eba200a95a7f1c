"""Ctrl-C (SIGINT) and SIGTERM at the moments that matter, sent to a real `releases` process.

During restart or health check of a deploy or a switch, the new release is live but
unconfirmed: it is switched back and marked failed before the command exits 130. Anywhere
else nothing live changes. Either way the last line says what is live now.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import (
    Cli,
    current_id,
    deploy_ok,
    history_of,
    meta_of,
    sigint_as_from_a_terminal,
    start_cli,
)

# The restart command: instant for releases without a `slow` file; for one that has it,
# it says so (the marker) and then takes its time, so the test can interrupt it there.
SLOW_RESTART = 'if [ -f "$RELEASE_PATH/slow" ]; then touch {marker}; sleep 60; fi'


def _start(*args: str) -> subprocess.Popen[str]:
    """`releases ARGS` as a real process (the test signals it)."""
    return start_cli(
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_as_from_a_terminal,  # no threads hold locks here
    )


def _interrupt_when(proc: subprocess.Popen[str], marker: Path, signum: int) -> tuple[str, str]:
    """Wait (bounded) until `marker` exists, send `signum`, return (stdout, stderr)."""
    for _ in range(1200):
        if marker.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"exited before the marker: {proc.communicate()}"
    assert marker.exists(), "the command never reached the point to interrupt"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    return out, err


def _new(root: Path, known: set[str]) -> str:
    (made,) = {p.name for p in (root / "releases").iterdir()} - known
    return made


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_restart_of_a_deploy_switches_back(
    cli: Cli, root: Path, app: Path, tmp_path: Path, signum: int
) -> None:
    """SIGINT or SIGTERM while the new release's restart runs: `current` goes back to the
    release live before, whose restart runs again; the new release is marked failed, the
    history has the automatic switch back, and the one line says so; exit 130."""
    marker = tmp_path / "restarting"
    restart = SLOW_RESTART.format(marker=marker)
    first = deploy_ok(cli, root, app, "--restart", restart)
    (app / "slow").write_text("")
    proc = _start("deploy", "--root", str(root), "--source", str(app), "--restart", restart)
    _out, err = _interrupt_when(proc, marker, signum)
    assert proc.returncode == 130, err
    new = _new(root, {first})
    last = err.strip().splitlines()[-1]
    assert (
        last == f"releases: interrupted: switched back to {first}; release {new} is marked failed"
    )
    assert current_id(root) == first
    assert meta_of(root, new)["status"] == "failed"
    back = history_of(root)[-1]
    assert (back["event"], back["id"], back["automatic"]) == ("switch", first, True)
    assert cli("rollback", "--root", str(root)).returncode == 4, "the failed release is no target"


def test_hang_up_during_the_restart_switches_back_without_writing_to_the_terminal(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """SIGHUP (the ssh session dropped) while the new release's restart runs: switched back and
    marked failed as for Ctrl-C, exit 130; from the hang-up on nothing more is written to the
    gone terminal (a write there fails with EIO and must not stop the switch back)."""
    marker = tmp_path / "restarting"
    restart = SLOW_RESTART.format(marker=marker)
    first = deploy_ok(cli, root, app, "--restart", restart)
    (app / "slow").write_text("")
    proc = _start("deploy", "--root", str(root), "--source", str(app), "--restart", restart)
    _out, err = _interrupt_when(proc, marker, signal.SIGHUP)
    assert proc.returncode == 130, err
    assert "interrupted" not in err
    new = _new(root, {first})
    assert current_id(root) == first
    assert meta_of(root, new)["status"] == "failed"
    back = history_of(root)[-1]
    assert (back["event"], back["id"], back["automatic"]) == ("switch", first, True)


def test_interrupted_health_check_of_a_switch_switches_back(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """`releases switch` of a staged release, interrupted while the health check waits for an
    app that never answers: switched back, release failed, exit 130, nothing pruned."""
    first = deploy_ok(cli, root, app)
    staged = cli("stage", "--root", str(root), "--source", str(app))
    assert staged.returncode == 0, staged.stderr
    new = staged.stdout.strip().splitlines()[-1]
    marker = tmp_path / "restarted"
    (root / "releases.toml").write_text(
        f'[restart]\ncommand = "touch {marker}"\n'
        '[health]\nurl = "http://127.0.0.1:9/"\ntimeout = 120\ninterval = 0.1\n'
    )
    proc = _start("switch", new, "--root", str(root), "--keep", "1")
    _out, err = _interrupt_when(proc, marker, signal.SIGINT)
    assert proc.returncode == 130, err
    assert f"switched back to {first}; release {new} is marked failed" in err
    assert current_id(root) == first
    assert meta_of(root, new)["status"] == "failed"
    assert (root / "releases" / new).is_dir(), "an interrupted switch prunes nothing"


def test_interrupted_build_leaves_current_and_says_so(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """Ctrl-C during the build: `current` never moved, the line says it is unchanged and
    names the live release, and the half-built release is marked failed."""
    first = deploy_ok(cli, root, app)
    marker = tmp_path / "building"
    proc = _start(
        "deploy", "--root", str(root), "--source", str(app), "--build", f"touch {marker}; sleep 60"
    )
    _out, err = _interrupt_when(proc, marker, signal.SIGINT)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == (
        f"releases: interrupted: current is unchanged (still {first})"
    )
    assert current_id(root) == first
    assert meta_of(root, _new(root, {first}))["status"] == "failed"


def test_interrupted_rollback_restart_stays_on_the_target(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """SIGTERM during the restart of a rollback: the target is a release that was live and
    healthy before, so it stays (as when its health check fails); the line says what is live
    now and what was; the target is not marked failed."""
    marker = tmp_path / "restarting"
    restart = SLOW_RESTART.format(marker=marker)
    (app / "slow").write_text("")  # the first release restarts slowly: the rollback target
    first = deploy_ok(cli, root, app, "--restart", "true")
    (app / "slow").unlink()
    second = deploy_ok(cli, root, app, "--restart", "true")
    proc = _start("rollback", "--root", str(root), "--restart", restart)
    _out, err = _interrupt_when(proc, marker, signal.SIGTERM)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == (
        f"releases: interrupted: current is now {first} (it was {second})"
    )
    assert current_id(root) == first
    assert meta_of(root, first)["status"] == "complete"
