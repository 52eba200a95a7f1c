"""SIGKILL at every point of freeze, unfreeze, pin, unpin and a forced override (real processes,
RELEASES_FAULT): the state is the old one or the new one, never torn; a complete release stays
complete; the next commands work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok, meta_of

KILLED = -9


def _frozen(cli: Cli, root: Path) -> bool:
    status = json.loads(cli("status", "--root", str(root), "--json").stdout)
    return status["frozen"] is not None


@pytest.mark.parametrize(
    ("point", "frozen_after"),
    [("mid_write:freeze.json", False), ("after_freeze_write", True), ("torn:freeze", True)],
)
def test_freeze_killed_at_each_point(
    cli: Cli, root: Path, app: Path, point: str, frozen_after: bool
) -> None:
    """Killed before the rename: not frozen; after it (before or during the history line):
    frozen with the whole note. Either way deploys and unfreeze keep working as the state says."""
    deploy_ok(cli, root, app)
    killed = cli("freeze", "--root", str(root), "-m", "party", env={"RELEASES_FAULT": point})
    assert killed.returncode == KILLED
    assert _frozen(cli, root) is frozen_after
    if frozen_after:
        assert json.loads((root / ".releases" / "freeze.json").read_text())["message"] == "party"
    deploy = cli("deploy", "--root", str(root), "--source", str(app))
    assert deploy.returncode == (5 if frozen_after else 0), deploy.stderr
    assert cli("unfreeze", "--root", str(root)).returncode == 0
    assert cli("deploy", "--root", str(root), "--source", str(app)).returncode == 0


@pytest.mark.parametrize("point", ["after_unfreeze", "torn:unfreeze"])
def test_unfreeze_killed_after_removing_the_freeze(
    cli: Cli, root: Path, app: Path, point: str
) -> None:
    """Killed after freeze.json is gone: deploys work; the history may lack the unfreeze."""
    deploy_ok(cli, root, app)
    assert cli("freeze", "--root", str(root), "-m", "party").returncode == 0
    killed = cli("unfreeze", "--root", str(root), env={"RELEASES_FAULT": point})
    assert killed.returncode == KILLED
    assert not _frozen(cli, root)
    assert cli("deploy", "--root", str(root), "--source", str(app)).returncode == 0


@pytest.mark.parametrize(
    ("command", "point", "pinned_after"),
    [
        ("pin", "mid_write:*.json", False),
        ("pin", "after_pin_write", True),
        ("pin", "torn:pin", True),
        ("unpin", "mid_write:*.json", True),
        ("unpin", "after_pin_write", False),
    ],
)
def test_pin_killed_at_each_point_keeps_the_release_complete(
    cli: Cli, root: Path, app: Path, command: str, point: str, pinned_after: bool
) -> None:
    """The meta is the old one or the new one (never torn): the release stays complete, and
    prune keeps it exactly when the surviving meta says pinned."""
    oldest = deploy_ok(cli, root, app)
    for _ in range(3):
        deploy_ok(cli, root, app)
    if command == "unpin":
        assert cli("pin", oldest, "--root", str(root)).returncode == 0
    killed = cli(command, oldest, "--root", str(root), env={"RELEASES_FAULT": point})
    assert killed.returncode == KILLED
    meta = meta_of(root, oldest)
    assert meta["status"] == "complete" and meta["pinned"] is pinned_after
    assert cli("prune", "--root", str(root), "--keep", "1").returncode == 0
    assert (root / "releases" / oldest).is_dir() is pinned_after


def test_forced_override_killed_after_recording_changes_nothing_else(
    cli: Cli, root: Path, app: Path
) -> None:
    """A `deploy --override-freeze` killed right after it recorded the override made no release
    and left current and the freeze as they were."""
    live = deploy_ok(cli, root, app)
    assert cli("freeze", "--root", str(root), "-m", "party").returncode == 0
    releases = sorted(p.name for p in (root / "releases").iterdir())
    killed = cli(
        "deploy",
        "--root",
        str(root),
        "--source",
        str(app),
        "--override-freeze",
        env={"RELEASES_FAULT": "after_freeze_override"},
    )
    assert killed.returncode == KILLED
    assert current_id(root) == live and _frozen(cli, root)
    assert sorted(p.name for p in (root / "releases").iterdir()) == releases
