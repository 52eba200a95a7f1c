"""`releases init --adopt PATH`: an app deployed in place becomes the first release."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok, history_of, meta_of, tree_state


@pytest.fixture
def live_app(tmp_path: Path) -> Path:
    """An app as `rm -rf .next; next build; pm2 restart` leaves it: built, with dependencies."""
    path = tmp_path / "shop-app"
    (path / ".next" / "server").mkdir(parents=True)
    (path / ".next" / "BUILD_ID").write_text("build-1\n")
    (path / ".next" / "server" / "page.js").write_text("module.exports = 1\n")
    (path / "node_modules" / "next").mkdir(parents=True)
    (path / "node_modules" / "next" / "package.json").write_text('{"name": "next"}\n')
    (path / ".git").mkdir()
    (path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (path / ".env.production").write_text("SECRET=1\n")
    (path / "ecosystem.config.js").write_text("module.exports = {apps: [{cwd: '/old'}]}\n")
    (path / "public").mkdir()
    (path / "public" / "logo.svg").write_text("<svg/>\n")
    (path / "public" / "current-logo").symlink_to("logo.svg")
    return path


def test_adopt_copies_everything_and_points_current(cli: Cli, root: Path, live_app: Path) -> None:
    """The whole tree (node_modules, .next, .git, dotfiles, links) becomes release 1, recorded
    complete; PATH is left exactly as it was; the PM2 change is printed."""
    before = tree_state(live_app)
    result = cli("init", "--root", str(root), "--adopt", str(live_app))
    assert result.returncode == 0, result.stderr
    release_id = current_id(root)
    assert os.readlink(root / "current") == f"releases/{release_id}"
    assert tree_state(root / "releases" / release_id) == before
    assert tree_state(live_app) == before, "the running app's directory must not change"
    meta = meta_of(root, release_id)
    assert meta["status"] == "complete" and meta["adopted"] is True
    assert meta["source"] == {"type": "adopt", "path": str(live_app)}
    events = [(e["event"], e.get("reason")) for e in history_of(root)]
    assert events == [("deploy_started", None), ("switch", "adopt"), ("deploy_finished", None)]
    assert f'cwd: "{root / "current"}"' in result.stdout
    assert str(live_app / "ecosystem.config.js") in result.stdout
    assert "pm2 delete <app-name> && pm2 start ecosystem.config.js" in result.stdout

    listing = cli("list", "--root", str(root), "--json")
    assert listing.returncode == 0, listing.stderr
    assert release_id in listing.stdout


def test_adopted_release_is_a_rollback_target(
    cli: Cli, root: Path, live_app: Path, app: Path
) -> None:
    """After adopting, a normal deploy follows and rollback goes back to the adopted tree."""
    assert cli("init", "--root", str(root), "--adopt", str(live_app)).returncode == 0
    adopted = current_id(root)
    deploy_ok(cli, root, app)
    result = cli("rollback", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert current_id(root) == adopted
    assert (root / "current" / ".next" / "BUILD_ID").read_text() == "build-1\n"


def test_adopt_current_directory_in_place_keeps_process_running(
    cli: Cli, root: Path, live_app: Path
) -> None:
    """<root>/current as a real directory with a process running in it: it becomes a symlink
    to the copy, the old directory is parked (not lost), and the process keeps its cwd."""
    (root / "current").mkdir()
    os.rename(live_app, root / "current")
    before = tree_state(root / "current")
    proc = subprocess.Popen(["sleep", "60"], cwd=root / "current")
    try:
        result = cli("init", "--root", str(root), "--adopt", str(root / "current"))
        assert result.returncode == 0, result.stderr
        release_id = os.readlink(root / "current").split("/")[-1]
        parked = root / ".releases" / f"adopted-{release_id}"
        assert tree_state(parked) == before
        assert tree_state(root / "releases" / release_id) == before
        assert proc.poll() is None
        assert os.readlink(f"/proc/{proc.pid}/cwd") == str(parked)
        assert "pm2 reload <app-name>" in result.stdout
        assert not [p for p in root.iterdir() if p.name.startswith(".current.tmp-")]
    finally:
        proc.kill()
        proc.wait()


def _refused(cli: Cli, root: Path, path: Path, code: int, words: str) -> None:
    before = tree_state(root.parent)
    result = cli("init", "--root", str(root), "--adopt", str(path))
    assert result.returncode == code, result.stderr
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert tree_state(root.parent) == before, "a refused adopt must change nothing"


def test_refuses_missing_path(cli: Cli, root: Path, tmp_path: Path) -> None:
    """A PATH that does not exist: exit 4, nothing created."""
    _refused(cli, root, tmp_path / "nope", 4, "does not exist")


def test_refuses_file(cli: Cli, root: Path, tmp_path: Path) -> None:
    """A PATH that is a file: exit 3."""
    (tmp_path / "file").write_text("x")
    _refused(cli, root, tmp_path / "file", 3, "is not a directory")


def test_refuses_symlink(cli: Cli, root: Path, live_app: Path, tmp_path: Path) -> None:
    """A PATH that is a symlink: exit 3 (the real directory must be named)."""
    (tmp_path / "alias").symlink_to(live_app)
    _refused(cli, root, tmp_path / "alias", 3, "is a symlink")


def test_refuses_root_with_releases(cli: Cli, root: Path, live_app: Path, app: Path) -> None:
    """A root that already has a live release: exit 7, nothing changed."""
    deploy_ok(cli, root, app)
    _refused(cli, root, live_app, 7, "already has a live release")


def test_refuses_root_with_complete_release_but_no_current(
    cli: Cli, root: Path, live_app: Path, app: Path
) -> None:
    """Complete releases without `current` (removed by hand): still refused, exit 7."""
    deploy_ok(cli, root, app)
    (root / "current").unlink()
    _refused(cli, root, live_app, 7, "already has releases")


def test_refuses_path_containing_root(cli: Cli, live_app: Path) -> None:
    """A root inside the app would be copied into itself: exit 3."""
    inner = live_app / "deploy"
    inner.mkdir()
    _refused(cli, inner, live_app, 3, "contains the deploy root")


def test_refuses_path_inside_root(cli: Cli, root: Path, live_app: Path) -> None:
    """An app inside the root (other than `current`): exit 3."""
    os.rename(live_app, root / "app")
    _refused(cli, root, root / "app", 3, "is inside the deploy root")


def test_refuses_other_path_when_current_is_a_directory(
    cli: Cli, root: Path, live_app: Path
) -> None:
    """`current` is a real directory: only it can be adopted (exit 7 names the right flag)."""
    (root / "current").mkdir()
    _refused(cli, root, live_app, 7, f"--adopt {root / 'current'}")


def test_interrupted_adopt_can_be_retried(cli: Cli, root: Path, live_app: Path) -> None:
    """SIGKILL mid-copy: `current` absent, PATH intact; adopting again succeeds and the
    half-copied release is reported as interrupted (and left for prune)."""
    for n in range(20):  # the fault point fires after the 10th file copied
        (live_app / "node_modules" / "next" / f"f{n}.js").write_text(f"{n}\n")
    before = tree_state(live_app)
    crashed = cli(
        "init", "--root", str(root), "--adopt", str(live_app), env={"RELEASES_FAULT": "mid_export"}
    )
    assert crashed.returncode == -9
    assert not (root / "current").exists()
    assert tree_state(live_app) == before
    result = cli("init", "--root", str(root), "--adopt", str(live_app))
    assert result.returncode == 0, result.stderr
    assert tree_state(root / "current") == before
    assert any(e["event"] == "deploy_interrupted" for e in history_of(root))
