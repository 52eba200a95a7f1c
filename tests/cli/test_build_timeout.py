"""build.timeout and hooks.timeout: a build or hook command that runs longer is stopped with its
whole process group; the deploy then fails like any failed build or hook (exit 6, release failed,
`current` unchanged), except after the switch, where a hook only warns."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from helpers import Cli, current_id, deploy_ok, meta_of

# The inner shell ignores SIGTERM (and so does its `sleep`, which inherits that), so only the
# SIGKILL that follows the grace period can stop it; it would finish after a minute otherwise.
STUBBORN = "sh -c 'trap \"\" TERM; echo $$ > stubborn.pid; sleep 60; touch finished'"


def _running(pid: int) -> bool:
    """A live process (a zombie does not count: orphans are not always reaped in containers)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _deploy_with(
    cli: Cli, root: Path, app: Path, config: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Deploy `app` with `config` as releases.toml: the result and the release it made."""
    (root / "releases.toml").write_text(config)
    before = {p.name for p in (root / "releases").iterdir()}
    result = cli("deploy", "--root", str(root), "--source", str(app))
    (made,) = {p.name for p in (root / "releases").iterdir()} - before
    return result, root / "releases" / made


def test_build_over_its_timeout_is_killed_with_its_process_group(
    cli: Cli, root: Path, app: Path
) -> None:
    """A build command still running at `build.timeout` is stopped, including a grandchild that
    ignores SIGTERM; the deploy exits 6 saying it timed out, the release is marked failed and
    `current` stays on the previous release."""
    live = deploy_ok(cli, root, app)
    config = f"[build]\ntimeout = 1\ncommands = [{json.dumps(STUBBORN)}]\n"
    result, release = _deploy_with(cli, root, app, config)
    assert result.returncode == 6, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("releases: error: build command ")
    assert "timed out after 1s (build.timeout) and was stopped; current is unchanged" in error
    assert current_id(root) == live
    stubborn = int((release / "stubborn.pid").read_text())
    assert not _running(stubborn), "a process of the timed-out build is still running"
    assert not (release / "finished").exists()
    meta = meta_of(root, release.name)
    assert meta["status"] == "failed"
    assert "timed out" in meta["error"]


def test_build_within_its_timeout_completes(cli: Cli, root: Path, app: Path) -> None:
    """A build that ends before `build.timeout` is not affected: the release goes live."""
    (root / "releases.toml").write_text(
        '[build]\ntimeout = 120\ncommands = ["echo built > built.txt"]\n'
    )
    release = deploy_ok(cli, root, app)
    assert (root / "releases" / release / "built.txt").read_text() == "built\n"


def test_hook_over_its_timeout_is_stopped_and_fails_the_deploy(
    cli: Cli, root: Path, app: Path
) -> None:
    """A before_switch hook still running at `hooks.timeout` is stopped with its process group
    (a grandchild ignoring SIGTERM included); the deploy exits 6 naming the hook and the limit,
    the release is marked failed and `current` stays on the previous release."""
    live = deploy_ok(cli, root, app)
    config = f"[hooks]\ntimeout = 1\nbefore_switch = [{json.dumps(STUBBORN)}]\n"
    result, release = _deploy_with(cli, root, app, config)
    assert result.returncode == 6, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert "before_switch hook " in error
    assert "timed out after 1s (hooks.timeout) and was stopped; current is unchanged" in error
    assert current_id(root) == live
    assert not _running(int((release / "stubborn.pid").read_text()))
    assert not (release / "finished").exists()
    meta = meta_of(root, release.name)
    assert meta["status"] == "failed"


def test_hook_over_its_timeout_after_the_switch_only_warns(cli: Cli, root: Path, app: Path) -> None:
    """An after_switch hook that hangs is stopped at `hooks.timeout`; the healthy switch stands
    (exit 0, the new release live) with a warning naming the hook."""
    deploy_ok(cli, root, app)
    config = f"[hooks]\ntimeout = 1\nafter_switch = [{json.dumps(STUBBORN)}]\n"
    result, release = _deploy_with(cli, root, app, config)
    assert result.returncode == 0, result.stderr
    assert current_id(root) == release.name
    assert "after_switch hook " in result.stderr + result.stdout
    assert "timed out after 1s (hooks.timeout)" in result.stderr + result.stdout
    assert not _running(int((release / "stubborn.pid").read_text()))
