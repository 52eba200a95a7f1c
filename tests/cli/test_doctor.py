"""`releases doctor`: each problem found with its fix, exit 10, and nothing changed; PM2 apps
checked against a real PM2 daemon (pm2 from npm, PM2_HOME in tmp)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok, tree_state

from releases_cli.pipelines.doctor import MIN_FREE_BYTES, disk_finding


def _doctor(cli: Cli, root: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    result = cli("doctor", "--root", str(root), "--json", env=env)
    report = dict(json.loads(result.stdout))
    assert result.returncode == (0 if report["ok"] else 10), result.stderr
    return report


def _problems(report: dict[str, object]) -> dict[str, dict[str, object]]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return {f["check"]: f for f in findings if not f["ok"]}


def test_healthy_root_has_no_problems(cli: Cli, root: Path, app: Path) -> None:
    """A deployed root passes every check (exit 0); the text output lists each check."""
    deploy_ok(cli, root, app)
    report = _doctor(cli, root)
    assert report["ok"] is True
    checks = {f["check"] for f in report["findings"]}  # type: ignore[attr-defined]
    assert {"layout", "permissions", "current", "temp links", "disk"} <= checks
    text = cli("doctor", "--root", str(root))
    assert text.returncode == 0 and "0 problem(s)" in text.stdout


def test_leftover_temp_link_is_reported_and_left_alone(cli: Cli, root: Path, app: Path) -> None:
    """A temp link from an interrupted switch: exit 10, the fix names it; doctor deletes
    nothing (it is read-only)."""
    release = deploy_ok(cli, root, app)
    os.symlink(f"releases/{release}", root / ".current.tmp-999-abcdef")
    before = tree_state(root)
    result = cli("doctor", "--root", str(root))
    assert result.returncode == 10
    assert "PROBLEM  temp links" in result.stdout
    assert f"fix: the next deploy/rollback/prune removes them, or: rm {root}/.current.tmp-999" in (
        result.stdout
    )
    assert tree_state(root) == before


def test_real_directory_current_is_reported(cli: Cli, root: Path, app: Path) -> None:
    """`current` that is a real directory (an old in-place deploy): exit 10 with a fix."""
    deploy_ok(cli, root, app)
    (root / "current").unlink()
    (root / "current").mkdir()
    problems = _problems(_doctor(cli, root))
    assert "not a symlink" in str(problems["current"]["message"])
    assert f"mv {root}/current" in str(problems["current"]["fix"])


def test_current_on_failed_release_and_missing_layout(cli: Cli, root: Path, app: Path) -> None:
    """`current` pointing at a release whose meta says failed is a problem whose fix switches to
    the newest complete release; a directory that is no deploy root is told to `init`."""
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    meta = root / ".releases" / "meta" / f"{second}.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "status": "failed"}))
    problems = _problems(_doctor(cli, root))
    assert f"{second}, which is not a complete release" in str(problems["current"]["message"])
    assert f"--to {first}" in str(problems["current"]["fix"])
    assert current_id(root) == second

    bare = root.parent / "bare"
    bare.mkdir()
    problems = _problems(_doctor(cli, bare))
    assert problems["layout"]["fix"] == f"releases init --root {bare}"


def test_disk_threshold() -> None:
    """Room for twice the largest release, and never less than the floor, is required."""
    gib = 1024**3
    assert disk_finding(10 * gib, 2 * gib).ok
    assert not disk_finding(3 * gib, 2 * gib).ok
    assert not disk_finding(MIN_FREE_BYTES - 1, 0).ok
    assert "releases prune" in disk_finding(0, 0).fix


@pytest.fixture(scope="session")
def pm2_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real pm2 from npm, installed once per session into a tmp prefix."""
    prefix = tmp_path_factory.mktemp("pm2")
    subprocess.run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "pm2@7"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return prefix / "node_modules" / ".bin"


@pytest.fixture
def pm2_env(pm2_bin: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """PATH with pm2 and a private PM2_HOME; the daemon is killed afterwards."""
    env = {
        "PATH": f"{pm2_bin}{os.pathsep}{os.environ['PATH']}",
        "PM2_HOME": str(tmp_path / "pm2home"),
    }
    yield env
    subprocess.run(
        [str(pm2_bin / "pm2"), "kill"],
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
        check=False,
    )


def _pm2(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        ["pm2", *args], env={**os.environ, **env}, check=True, capture_output=True, timeout=60
    )


def test_pm2_app_with_resolved_cwd_is_reported(
    cli: Cli, root: Path, app: Path, pm2_env: dict[str, str]
) -> None:
    """With a real PM2 daemon: an app started with cwd = releases/<id> is a problem whose fix
    is cwd = <root>/current and delete + start; an app using the `current` path is fine; an
    app outside the deploy root is ignored."""
    (app / "app.py").write_text("import time\ntime.sleep(600)\n")
    release = deploy_ok(cli, root, app)
    resolved = root / "releases" / release
    current = root / "current"
    common = ["--interpreter", "python3", "--no-autorestart"]
    _pm2(
        pm2_env, "start", str(resolved / "app.py"), "--cwd", str(resolved), "--name", "bad", *common
    )
    _pm2(
        pm2_env, "start", str(current / "app.py"), "--cwd", str(current), "--name", "good", *common
    )
    _pm2(pm2_env, "start", str(app / "app.py"), "--cwd", str(app), "--name", "other", *common)

    result = cli("doctor", "--root", str(root), env=pm2_env)
    assert result.returncode == 10, result.stdout + result.stderr
    assert f"PROBLEM  pm2: PM2 app 'bad' runs from a resolved release path ({resolved}" in (
        result.stdout
    )
    assert f"set cwd: '{current}'" in result.stdout
    assert "pm2 delete bad && pm2 start ecosystem.config.js" in result.stdout
    assert "ok  pm2: PM2 app 'good' uses the `current` path" in result.stdout
    assert "'other'" not in result.stdout


def test_doctor_does_not_start_a_pm2_daemon(
    cli: Cli, root: Path, app: Path, pm2_env: dict[str, str]
) -> None:
    """pm2 installed but its daemon not running: doctor says so and does not spawn one."""
    deploy_ok(cli, root, app)
    result = cli("doctor", "--root", str(root), env=pm2_env)
    assert result.returncode == 0, result.stdout
    assert "PM2 daemon not running" in result.stdout
    assert not (Path(pm2_env["PM2_HOME"]) / "pm2.pid").exists()


def test_releases_staged_before_the_first_switch_are_no_problem(
    cli: Cli, root: Path, app: Path
) -> None:
    """`releases stage` before anything was live leaves no `current`: that is the normal
    state of a fleet's first stage, not a problem (exit 0, the staged id named); a complete
    release that was live once and no `current` still is one."""
    assert cli("init", "--root", str(root)).returncode == 0
    staged = cli("stage", "--root", str(root), "--source", str(app))
    assert staged.returncode == 0, staged.stderr
    report = _doctor(cli, root)
    assert report["ok"] is True
    current = next(f for f in report["findings"] if f["check"] == "current")  # type: ignore[attr-defined]
    assert staged.stdout.split()[-1] in current["message"]
    assert cli("switch", "--root", str(root), staged.stdout.split()[-1]).returncode == 0
    (root / "current").unlink()
    assert "current" in _problems(_doctor(cli, root))
