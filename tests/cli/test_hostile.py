"""Hostile input: malicious ids, things planted in releases/, a `current` pointing anywhere,
corrupt history and meta files, a full disk. Each is refused or survived without losing data."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok, list_json, quiet, tree_state
from mounts import tmpfs

from releases_cli.core.compat import UTC
from releases_cli.core.errors import InvalidInput
from releases_cli.core.layout import DeployRoot
from releases_cli.pipelines.deploy import DeployOptions, deploy
from releases_cli.pipelines.rollback import rollback
from releases_cli.sources.local import LocalSource

BAD_IDS = [
    "../../etc",
    "20261126T101500Z/..",
    "releases/20261126T101500Z",
    "..",
    "20261126T101500Z/../../x",
    "9" * 5000,
    "20261126T101500Z-1",
    "20261399T101500Z",
    " 20261126T101500Z",
]


def test_rollback_to_malformed_id_is_refused(cli: Cli, root: Path, app: Path) -> None:
    """`rollback --to` with a path, traversal, a very long or malformed id: each exits 3 with
    one line on stderr (long ids clipped) and changes nothing."""
    deploy_ok(cli, root, app)
    deploy_ok(cli, root, app)
    before = tree_state(root)
    for bad in BAD_IDS:
        result = cli("rollback", "--root", str(root), "--to", bad)
        assert result.returncode == 3, (bad, result.stderr)
        assert result.stderr.count("\n") == 1 and "malformed release id" in result.stderr
        assert len(result.stderr) < 300
        assert tree_state(root) == before


def test_nul_in_id_is_refused_by_the_library(root: Path) -> None:
    """A NUL cannot reach argv, but the library API refuses it too before touching anything."""
    with pytest.raises(InvalidInput, match="malformed release id"):
        rollback(DeployRoot(root), "20261126T101500Z\x00/../x")
    assert list(root.iterdir()) == []


def test_planted_entries_in_releases_are_left_alone(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """Odd directories, a file and symlinks (one named like an old id, pointing outside the
    root) planted in releases/ are never listed, rolled back to, or deleted, and nothing
    outside the root is touched, through many deploys and a prune with keep=1."""
    deploy_ok(cli, root, app)
    releases = root / "releases"
    planted_dirs = ["..evil", "x" * 255, "20261126T101500Z-0", "20261301T000000Z", "new\nline"]
    for name in planted_dirs:
        (releases / name).mkdir()
        (releases / name / "keep.txt").write_text("planted\n")
    (releases / "20200101T000000Z").symlink_to(outside)
    (releases / "20991231T235959Z").symlink_to(outside)
    (releases / "escape").symlink_to("../../outside")
    (releases / "20200102T000000Z").write_text("a file, not a release\n")
    outside_before = tree_state(outside)

    for _ in range(3):
        deploy_ok(cli, root, app, "--keep", "1")
    pruned = cli("prune", "--root", str(root), "--keep", "1")
    assert pruned.returncode == 0, pruned.stderr
    refused = cli("rollback", "--root", str(root), "--to", "20200101T000000Z")
    assert refused.returncode == 4, "a planted link is not a release"

    assert tree_state(outside) == outside_before
    for name in planted_dirs:
        assert (releases / name / "keep.txt").read_text() == "planted\n"
    assert os.readlink(releases / "20200101T000000Z") == str(outside)
    assert not current_id(root).startswith("2099"), "a planted far-future name moves no ids"
    listing = list_json(cli, root)
    assert len(listing["releases"]) == 2, "only real releases are listed (current + previous)"
    assert any("not releases" in w for w in listing["warnings"])


def test_planted_link_with_the_next_id_is_stepped_over(
    root: Path, app: Path, outside: Path
) -> None:
    """A symlink planted under exactly the id the next deploy would take: the deploy picks the
    next id instead of failing or writing through the link."""
    moment = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
    (root / "releases").mkdir()
    (root / "releases" / "20261126T101500Z").symlink_to(outside)
    before = tree_state(outside)
    result = deploy(DeployRoot(root), DeployOptions(LocalSource(app)), lambda: moment, quiet)
    assert result.id == "20261126T101500Z-2"
    assert tree_state(outside) == before


def test_symlink_inside_a_release_is_not_followed_by_prune(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """A release holding links to a directory outside the root (absolute and relative) is
    pruned without deleting anything through those links."""
    (app / "uploads").symlink_to(outside)
    (app / "rel").symlink_to(os.path.relpath(outside, root / "releases" / "x"))
    first = deploy_ok(cli, root, app)
    before = tree_state(outside)
    for _ in range(3):
        deploy_ok(cli, root, app, "--keep", "1")
    assert not (root / "releases" / first).exists()
    assert tree_state(outside) == before


def test_dangling_current_is_warned_and_repaired(cli: Cli, root: Path, app: Path) -> None:
    """`current` pointing at a release that is gone: list warns (and still works), rollback
    goes to the release live before it, and a deploy replaces the link."""
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    (root / "current").unlink()
    (root / "current").symlink_to("releases/20261126T000000Z")
    listing = list_json(cli, root)
    assert any("not a kept release" in w for w in listing["warnings"])
    back = cli("rollback", "--root", str(root))
    assert back.returncode == 0, back.stderr
    assert current_id(root) == second, "the newest complete release the history knows"
    (root / "current").unlink()
    (root / "current").symlink_to("releases/20261126T000000Z")
    third = deploy_ok(cli, root, app)
    assert third not in (first, second)
    assert list_json(cli, root)["warnings"] == []
    recovered = [
        line
        for line in (root / ".releases" / "history.jsonl").read_text().splitlines()
        if "recovered" in line
    ]
    assert recovered == [], "a dangling link is not recorded as a switch"


@pytest.mark.parametrize("target", ["outside-abs", "../outside", "shared", "releases"])
def test_current_pointing_outside_releases(
    cli: Cli, root: Path, app: Path, outside: Path, target: str
) -> None:
    """`current` pointing outside releases/ (or at releases/ itself): list warns, rollback picks
    a real release, deploy replaces only the link; the pointed-at directory is untouched."""
    deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    link = str(outside) if target == "outside-abs" else target
    (root / "current").unlink()
    (root / "current").symlink_to(link)
    before = tree_state(outside)
    assert any("not a kept release" in w for w in list_json(cli, root)["warnings"])
    back = cli("rollback", "--root", str(root))
    assert back.returncode == 0, back.stderr
    assert current_id(root) == second
    (root / "current").unlink()
    (root / "current").symlink_to(link)
    deploy_ok(cli, root, app, "--keep", "1")
    assert tree_state(outside) == before
    assert (root / "shared").is_dir() and (root / "releases").is_dir()


def test_corrupt_history_lines_are_reported_and_survived(cli: Cli, root: Path, app: Path) -> None:
    """Garbage in the middle of the history and a torn last line (no newline): list works and
    reports them, rollback still walks the intact events, and the next event is not swallowed."""
    first = deploy_ok(cli, root, app)
    deploy_ok(cli, root, app)
    history = root / ".releases" / "history.jsonl"
    lines = history.read_text().splitlines()
    lines.insert(1, "\x00\xff not json {{{")
    history.write_bytes(("\n".join(lines) + '\n{"event": "swi').encode())
    listing = list_json(cli, root)
    assert any("2 corrupt line(s)" in w for w in listing["warnings"])
    back = cli("rollback", "--root", str(root))
    assert back.returncode == 0, back.stderr
    assert current_id(root) == first
    last = json.loads(history.read_text().splitlines()[-1])
    assert last["event"] == "switch" and last["id"] == first
    assert deploy_ok(cli, root, app)


@pytest.mark.parametrize("damage", [b"{not json", b"", b"[1, 2]", b'{"id": "other"}'])
def test_corrupt_meta_keeps_release_and_list_works(
    cli: Cli, root: Path, app: Path, damage: bytes
) -> None:
    """A damaged meta file on an old release: list still works and reports it, rollback --to
    refuses it, and deploys with keep=1 never prune it (damage is not a killed build)."""
    ids = [deploy_ok(cli, root, app) for _ in range(3)]
    (root / ".releases" / "meta" / f"{ids[0]}.json").write_bytes(damage)
    listing = list_json(cli, root)
    record = next(r for r in listing["releases"] if r["id"] == ids[0])
    assert record["status"] == "incomplete" and not record["complete"]
    assert any("meta file unreadable" in w for w in listing["warnings"])
    refused = cli("rollback", "--root", str(root), "--to", ids[0])
    assert refused.returncode == 3
    for _ in range(2):
        deploy_ok(cli, root, app, "--keep", "1")
    assert (root / "releases" / ids[0] / "index.html").is_file()
    assert not (root / "releases" / ids[1]).exists(), "undamaged old releases prune normally"


def test_build_hitting_file_size_limit_leaves_current(cli: Cli, root: Path, app: Path) -> None:
    """A build that runs out of space (RLIMIT_FSIZE: writes fail like on a full disk) exits 6,
    leaves `current` where it was and the release marked failed."""
    good = deploy_ok(cli, root, app)
    result = cli(
        "deploy",
        "--root",
        str(root),
        "--source",
        str(app),
        "--build",
        "ulimit -f 64 && head -c 10000000 /dev/zero > big.bin",
    )
    assert result.returncode == 6, result.stderr
    assert current_id(root) == good
    failed = [r for r in list_json(cli, root)["releases"] if r["id"] != good]
    assert [r["status"] for r in failed] == ["failed"]


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs as the deploy root, so the disk really fills up (needs mount rights)."""
    with tmpfs(tmp_path / "tiny", "4m") as mountpoint:
        yield mountpoint


def test_full_disk_during_build_leaves_current(cli: Cli, tiny_fs: Path, app: Path) -> None:
    """A build that fills the filesystem (ENOSPC, so even the failure record may not fit):
    exit 6 not a traceback, `current` untouched and complete, list works, `prune` frees the
    space, and the next deploy succeeds."""
    good = deploy_ok(cli, tiny_fs, app)
    result = cli(
        "deploy", "--root", str(tiny_fs), "--source", str(app),
        "--build", "head -c 8000000 /dev/zero > big.bin",
    )  # fmt: skip
    assert result.returncode == 6, result.stderr
    assert "Traceback" not in result.stderr
    assert current_id(tiny_fs) == good
    assert (tiny_fs / "current" / "index.html").read_text() == "v1\n"
    others = [r for r in list_json(cli, tiny_fs)["releases"] if r["id"] != good]
    assert len(others) == 1 and not others[0]["complete"]
    pruned = cli("prune", "--root", str(tiny_fs))
    assert pruned.returncode == 0, pruned.stderr
    assert deploy_ok(cli, tiny_fs, app) != good
