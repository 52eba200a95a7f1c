"""build.timeout: a build command that runs longer is stopped with its whole process group, and
the deploy fails like any failed build (exit 6, release failed, `current` unchanged)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import Cli, current_id, deploy_ok

# The inner shell ignores SIGTERM (and so does its `sleep`, which inherits that), so only the
# SIGKILL that follows the grace period can stop it; it would finish after a minute otherwise.
STUBBORN = "sh -c 'trap \"\" TERM; echo $$ > stubborn.pid; sleep 60; touch finished'"


def _running(pid: int) -> bool:
    """A live process (a zombie does not count: orphans are not always reaped in containers)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _new_release(root: Path, before: set[str]) -> Path:
    (made,) = {p.name for p in (root / "releases").iterdir()} - before
    return root / "releases" / made


def test_build_over_its_timeout_is_killed_with_its_process_group(
    cli: Cli, root: Path, app: Path
) -> None:
    """A build command still running at `build.timeout` is stopped, including a grandchild that
    ignores SIGTERM; the deploy exits 6 saying it timed out, the release is marked failed and
    `current` stays on the previous release."""
    live = deploy_ok(cli, root, app)
    (root / "releases.toml").write_text(
        f"[build]\ntimeout = 1\ncommands = [{json.dumps(STUBBORN)}]\n"
    )
    before = {p.name for p in (root / "releases").iterdir()}
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 6, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("releases: error: build command ")
    assert "timed out after 1s (build.timeout) and was stopped; current is unchanged" in error
    assert current_id(root) == live
    release = _new_release(root, before)
    stubborn = int((release / "stubborn.pid").read_text())
    assert not _running(stubborn), "a process of the timed-out build is still running"
    assert not (release / "finished").exists()
    meta = json.loads((root / ".releases" / "meta" / f"{release.name}.json").read_text())
    assert meta["status"] == "failed"
    assert "timed out" in meta["error"]


def test_build_within_its_timeout_completes(cli: Cli, root: Path, app: Path) -> None:
    """A build that ends before `build.timeout` is not affected: the release goes live."""
    (root / "releases.toml").write_text(
        '[build]\ntimeout = 120\ncommands = ["echo built > built.txt"]\n'
    )
    release = deploy_ok(cli, root, app)
    assert (root / "releases" / release / "built.txt").read_text() == "built\n"
