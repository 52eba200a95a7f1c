"""Shared files and directories linked from shared/ into each release before the build."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok, tree_state

from releases_cli.config import SharedConfig
from releases_cli.core.errors import InvalidInput, UnsafeState
from releases_cli.core.layout import DeployRoot
from releases_cli.pipelines.shared import link_shared

CONFIG = '[shared]\nfiles = [".env.production"]\ndirs = ["public/uploads"]\n'


def _init(cli: Cli, root: Path) -> None:
    assert cli("init", "--root", str(root)).returncode == 0


def test_shared_links_replace_source_and_build_reads_them(cli: Cli, root: Path, app: Path) -> None:
    """The build sees shared/.env.production, not the source's; links are relative; a missing
    shared dir is created; what the source had at those paths is replaced."""
    _init(cli, root)
    (root / "releases.toml").write_text(CONFIG)
    (root / "shared" / ".env.production").write_text("SECRET=from-server\n")
    (app / ".env.production").write_text("SECRET=from-repo\n")
    (app / "public" / "uploads").mkdir(parents=True)
    (app / "public" / "uploads" / "stale.png").write_text("repo copy\n")

    release_id = deploy_ok(cli, root, app, "--build", "cat .env.production > seen.txt")
    release = root / "releases" / release_id
    assert (release / "seen.txt").read_text() == "SECRET=from-server\n"
    assert os.readlink(release / ".env.production") == "../../shared/.env.production"
    assert os.readlink(release / "public" / "uploads") == "../../../shared/public/uploads"
    assert (root / "shared" / "public" / "uploads").is_dir()
    assert not (root / "shared" / "public" / "uploads" / "stale.png").exists()
    assert (app / ".env.production").read_text() == "SECRET=from-repo\n", "source untouched"

    (root / "shared" / "public" / "uploads" / "a.png").write_text("upload\n")
    second = deploy_ok(cli, root, app)
    assert (root / "releases" / second / "public" / "uploads" / "a.png").read_text() == "upload\n"
    assert (root / "current" / ".env.production").read_text() == "SECRET=from-server\n"


def test_missing_shared_file_fails_before_build(cli: Cli, root: Path, app: Path) -> None:
    """No shared/.env.production: exit 4 naming the file and its path; no release made, the
    build never ran, current unchanged."""
    _init(cli, root)
    good = deploy_ok(cli, root, app)
    (root / "releases.toml").write_text(CONFIG)
    marker = root.parent / "build-ran"
    before = tree_state(root)
    result = cli("deploy", "--root", str(root), "--source", str(app), "--build", f"touch {marker}")
    assert result.returncode == 4
    where = root / "shared" / ".env.production"
    assert f"shared file .env.production is missing: create {where}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not marker.exists()
    assert tree_state(root) == before
    assert current_id(root) == good


@pytest.mark.parametrize("entry", ["/etc/passwd", "../outside", "a/../../b", "", "."])
def test_unsafe_entries_refused(cli: Cli, root: Path, app: Path, entry: str) -> None:
    """Absolute paths and `..` could point links outside the root: exit 3, nothing changed."""
    _init(cli, root)
    (root / "releases.toml").write_text(f'[shared]\ndirs = ["{entry}"]\n')
    before = tree_state(root)
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 3, result.stderr
    assert "must be a relative path inside shared/" in result.stderr
    assert tree_state(root) == before


def test_symlinked_parent_in_source_is_not_written_through(tmp_path: Path) -> None:
    """A source with `public -> /elsewhere` must not get a link (or a deletion) made there."""
    root = DeployRoot(tmp_path / "root")
    root.shared.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "uploads").mkdir(parents=True)
    (elsewhere / "uploads" / "keep.txt").write_text("precious\n")
    release = tmp_path / "release"
    release.mkdir()
    (release / "public").symlink_to(elsewhere)
    with pytest.raises(UnsafeState, match="public is a symlink"):
        link_shared(root, release, SharedConfig(dirs=("public/uploads",)))
    assert (elsewhere / "uploads" / "keep.txt").read_text() == "precious\n"


def test_wrong_kind_is_refused(tmp_path: Path) -> None:
    """A shared file that is a directory (or a dir that is a file) is a config mistake."""
    root = DeployRoot(tmp_path / "root")
    (root.shared / ".env.production").mkdir(parents=True)
    release = tmp_path / "release"
    release.mkdir()
    with pytest.raises(InvalidInput, match="is a directory"):
        link_shared(root, release, SharedConfig(files=(".env.production",)))
    (root.shared / "uploads").write_text("x")
    with pytest.raises(InvalidInput, match="is not a directory"):
        link_shared(root, release, SharedConfig(dirs=("uploads",)))
    assert list(release.iterdir()) == []
