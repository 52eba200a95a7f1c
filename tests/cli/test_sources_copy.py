"""Directory sources and adopt: a source overlapping the deploy root is refused before anything
is made; what a copied tree holds (links out of it, FIFOs, sparse files) is copied as data and
never followed, through the CLI as users run it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok, meta_of
from hostile import make_outside, snapshot


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    return make_outside(tmp_path / "outside")


@pytest.mark.parametrize("where", ["releases", "shared", "releases/<id>", ".", ".releases"])
def test_source_inside_the_deploy_root_is_refused_before_anything_is_made(
    cli: Cli, root: Path, app: Path, where: str
) -> None:
    """`--source root/releases` (or a release, `shared/`, the state directory, the root
    itself) would copy releases into a release and grow with every deploy: exit 3, one line,
    and the root exactly as it was (no release directory, no history line)."""
    first = deploy_ok(cli, root, app)
    source = root / where.replace("<id>", first)
    before = snapshot(root)
    result = cli("deploy", "--root", str(root), "--source", str(source))
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("releases: error: source ") and result.stderr.count("\n") == 1
    assert "the deploy root" in result.stderr
    assert snapshot(root) == before


def test_a_symlinked_spelling_of_an_overlapping_source_is_refused_too(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """The check compares real paths: a link to `root/releases`, or a root given through a
    link that contains the source, is refused the same way, and nothing is made."""
    deploy_ok(cli, root, app)
    (tmp_path / "alias").symlink_to(root / "releases")
    before = snapshot(root)
    result = cli("deploy", "--root", str(root), "--source", str(tmp_path / "alias"))
    assert result.returncode == 3 and "is inside the deploy root" in result.stderr
    (tmp_path / "root-alias").symlink_to(app / "pages")
    result = cli("deploy", "--root", str(tmp_path / "root-alias"), "--source", str(app))
    assert result.returncode == 3 and "contains the deploy root" in result.stderr
    assert snapshot(root) == before
    assert sorted(os.listdir(app / "pages")) == ["about.html"]


def test_source_with_links_out_fifos_and_sparse_files_is_copied_as_data(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """A source directory holding links out of it (absolute, relative, to a FIFO, to
    /dev/zero), a FIFO and a sparse file: the release has the links as links, no FIFO, the
    sparse file with its holes, its meta size counts no hole; the outside is untouched and a
    prune of the release deletes nothing through the links."""
    (app / "uploads").symlink_to(outside / "dir")
    (app / "up").symlink_to(os.path.relpath(outside / "secret.txt", app))
    (app / "pipe-link").symlink_to(outside / "fifo")
    (app / "zero").symlink_to("/dev/zero")
    os.mkfifo(app / "pipe")
    with open(app / "disk.img", "wb") as image:
        image.write(b"data")
        image.truncate(1 << 30)
    before = snapshot(outside)
    first = deploy_ok(cli, root, app)
    release = root / "releases" / first
    assert os.readlink(release / "uploads") == str(outside / "dir")
    assert os.readlink(release / "zero") == "/dev/zero"
    assert not os.path.lexists(release / "pipe")
    assert (release / "disk.img").stat().st_size == 1 << 30
    assert (release / "disk.img").stat().st_blocks * 512 < 1 << 20
    meta = meta_of(root, first)
    assert meta["size"] < 1 << 20, "size is what the disk holds, holes and link targets excluded"
    for _ in range(3):
        deploy_ok(cli, root, app, "--keep", "1")
    assert not release.exists()
    assert snapshot(outside) == before


def test_adopt_copies_links_as_links_and_skips_fifos(
    cli: Cli, root: Path, tmp_path: Path, outside: Path
) -> None:
    """An app directory being adopted whose `.next/cache` and `node_modules/x` link out, with a
    FIFO beside them: the release holds the links as links (never the outside files), no FIFO,
    the adopt does not block, and the outside is untouched."""
    live = tmp_path / "live"
    (live / ".next").mkdir(parents=True)
    (live / ".next" / "BUILD_ID").write_text("b1\n")
    (live / ".next" / "cache").symlink_to(outside / "dir")
    (live / "node_modules").mkdir()
    (live / "node_modules" / "x").symlink_to(outside)
    os.mkfifo(live / "control.fifo")
    before = snapshot(outside)
    result = cli("init", "--root", str(root), "--adopt", str(live))
    assert result.returncode == 0, result.stderr
    release = root / "releases" / current_id(root)
    assert os.readlink(release / ".next" / "cache") == str(outside / "dir")
    assert os.readlink(release / "node_modules" / "x") == str(outside)
    assert not os.path.lexists(release / "control.fifo")
    assert snapshot(outside) == before


def test_adopt_of_a_path_inside_the_root_through_a_link_is_refused(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    """`--adopt` of a directory inside the deploy root, named through a symlinked parent: exit
    3 and nothing is made (compared by real path, like --source)."""
    (root / "shared" / "app").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(root)
    before = snapshot(root)
    result = cli("init", "--root", str(root), "--adopt", str(tmp_path / "alias/shared/app"))
    assert result.returncode == 3, result.stderr
    assert "inside the deploy root" in result.stderr
    assert snapshot(root) == before


def test_source_nested_too_deep_fails_the_copy_with_exit_8(cli: Cli, root: Path, app: Path) -> None:
    """A source nested deeper than any real tree (300 directories) fails with exit 8 and one
    line saying where, instead of running out of file descriptors; `current` is unchanged."""
    good = deploy_ok(cli, root, app)
    deep = app / "deep"
    deep.joinpath(*(["d"] * 300)).mkdir(parents=True)
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 8, result.stderr
    assert "nested deeper than 256 levels" in result.stderr
    assert current_id(root) == good
