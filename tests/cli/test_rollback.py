"""Rollback by history: never to failed or incomplete releases, and rollback after rollback walks
back through what was live."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok, history_of, tree_state


def _fail_deploy(cli: Cli, root: Path, app: Path) -> None:
    result = cli("deploy", "--root", str(root), "--source", str(app), "--build", "false")
    assert result.returncode == 6


def test_rollback_skips_failed_releases_after_two_failures(cli: Cli, root: Path, app: Path) -> None:
    """Two failed deploys in a row: rollback goes to the release live before current."""
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    _fail_deploy(cli, root, app)
    _fail_deploy(cli, root, app)
    result = cli("rollback", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert current_id(root) == first
    assert f"rolled back to {first}" in result.stdout and second in result.stdout


def test_rollback_after_rollback_walks_back(cli: Cli, root: Path, app: Path) -> None:
    """A, B, C live in turn: rollback -> B, rollback -> A, then nothing left (exit 4)."""
    a, b, c = (deploy_ok(cli, root, app) for _ in range(3))
    assert current_id(root) == c
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert current_id(root) == b
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert current_id(root) == a
    before = tree_state(root)
    result = cli("rollback", "--root", str(root))
    assert result.returncode == 4 and "nothing to roll back to" in result.stderr
    assert tree_state(root) == before


def test_rollback_target_is_by_history_not_mtime(cli: Cli, root: Path, app: Path) -> None:
    """Directory mtimes do not change which release rollback picks: the one live before."""
    a, b, c = (deploy_ok(cli, root, app) for _ in range(3))
    os.utime(root / "releases" / a, (2_000_000_000, 2_000_000_000))
    os.utime(root / "releases" / b, (1_000_000_000, 1_000_000_000))
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert current_id(root) == b
    assert c != b


def test_rollback_to_then_forward_again(cli: Cli, root: Path, app: Path) -> None:
    """`--to` an older release undoes the deploys after it; `--to` a newer one rolls forward."""
    a, _b, c = (deploy_ok(cli, root, app) for _ in range(3))
    assert cli("rollback", "--root", str(root), "--to", a).returncode == 0
    result = cli("rollback", "--root", str(root))
    assert result.returncode == 4, "nothing was live before A"
    assert cli("rollback", "--root", str(root), "--to", c).returncode == 0
    assert current_id(root) == c
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert current_id(root) == a, "the release live before C (rolled forward to) was A"


def test_rollback_to_any_complete_release(cli: Cli, root: Path, app: Path) -> None:
    """--to switches to a named complete release, instantly, content intact."""
    (app / "index.html").write_text("old\n")
    old = deploy_ok(cli, root, app)
    (app / "index.html").write_text("new\n")
    deploy_ok(cli, root, app)
    deploy_ok(cli, root, app)
    result = cli("rollback", "--root", str(root), "--to", old)
    assert result.returncode == 0, result.stderr
    assert (root / "current" / "index.html").read_text() == "old\n"
    events = history_of(root)
    assert events[-1]["event"] == "switch" and events[-1]["reason"] == "rollback"
    assert events[-1]["id"] == old and events[-1]["user"]


@pytest.mark.parametrize(
    ("to", "code", "message"),
    [
        ("../../etc", 3, "malformed release id"),
        ("20261126T101500Z/..", 3, "malformed release id"),
        ("x" * 5000, 3, "malformed release id"),
        ("20991231T235959Z", 4, "does not exist"),
        ("FAILED", 3, "is failed"),
        ("CURRENT", 3, "already current"),
    ],
)
def test_rollback_bad_targets_change_nothing(
    cli: Cli, root: Path, app: Path, to: str, code: int, message: str
) -> None:
    """Malformed, unknown, failed or current ids: one-line error, documented code, no change."""
    deploy_ok(cli, root, app)
    live = deploy_ok(cli, root, app)
    _fail_deploy(cli, root, app)
    failed = next(
        p.stem
        for p in (root / ".releases" / "meta").iterdir()
        if json.loads(p.read_text())["status"] == "failed"
    )
    to = {"FAILED": failed, "CURRENT": live}.get(to, to)
    before = tree_state(root)
    result = cli("rollback", "--root", str(root), "--to", to)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    after = tree_state(root)
    after.pop(".releases/lock.info", None)
    before.pop(".releases/lock.info", None)
    assert after == before
