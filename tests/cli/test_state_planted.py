"""`.releases/` is data: a symlink planted in it is never followed, for reading or for writing.

In the layout (`.releases` itself and its fixed entries) a link, or an entry of the wrong kind,
makes every state-changing command refuse with exit 7, naming it and the fix, while read-only
commands keep working. Per release (a meta file, a log, a trash entry) a link is damage: read
as a damaged file, replaced when written, unlinked in the trash. Nothing outside the root is
ever touched."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok, quiet, tree_state

from releases_cli.config import BuildConfig
from releases_cli.core.compat import UTC
from releases_cli.core.layout import DeployRoot
from releases_cli.pipelines.deploy import DeployOptions, deploy
from releases_cli.sources.local import LocalSource

MOMENT = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
NEXT_ID = "20261126T101500Z"


def _plant(state: Path, name: str, outside: Path) -> Path:
    """Replace `.releases/<name>` (or `.releases` itself) by a link to a copy outside."""
    entry = state if name == ".releases" else state / name
    is_dir = name in (".releases", "meta", "logs", "trash", "repo.git")
    target = outside / "deep" if is_dir else outside / "precious.txt"
    if entry.is_dir():
        shutil.copytree(entry, outside / "deep" / "copy", symlinks=True)
        shutil.rmtree(entry)
    elif entry.exists():
        shutil.copy(entry, outside / "precious.txt")
        entry.unlink()
    entry.symlink_to(target)
    return entry


def _unplant(link: Path, outside: Path) -> None:
    """Put back what `_plant` moved out."""
    link.unlink()
    if (outside / "deep" / "copy").is_dir():
        shutil.copytree(outside / "deep" / "copy", link, symlinks=True)
    elif link.name in ("history.jsonl", "lock"):
        shutil.copy(outside / "precious.txt", link)


LAYOUT = [
    *(".releases", "meta", "logs", "trash", "repo.git"),
    *("history.jsonl", "lock", "lock.info", "reserve", "freeze.json"),
    *("cleaner.log", "cleaner.log.1"),
]


@pytest.mark.parametrize("name", LAYOUT)
def test_a_planted_link_in_the_layout_is_refused_and_never_followed(
    cli: Cli, root: Path, app: Path, outside: Path, name: str
) -> None:
    """Deploy, stage, rollback, prune and switch each exit 7 with one line naming the link and
    the fix, before touching anything (the root and what the link points at are unchanged);
    list and status still work and warn, doctor reports it; once it is removed, deploys work."""
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    (root / ".releases" / "trash").mkdir(exist_ok=True)
    link = _plant(root / ".releases", name, outside)
    before, outside_before = tree_state(root), tree_state(outside)

    refused = {
        "deploy": cli("deploy", "--root", str(root), "--source", str(app)),
        "stage": cli("stage", "--root", str(root), "--source", str(app)),
        "rollback": cli("rollback", "--root", str(root)),
        "prune": cli("prune", "--root", str(root), "--keep", "1"),
        "switch": cli("switch", first, "--root", str(root)),
    }
    for command, result in refused.items():
        assert result.returncode == 7, (command, result.stderr)
        assert result.stderr.count("\n") == 1, (command, result.stderr)
        assert f"{link} is a symlink" in result.stderr and "fix: rm" in result.stderr, command
    assert tree_state(root) == before and tree_state(outside) == outside_before
    assert current_id(root) == second

    listing = cli("list", "--root", str(root), "--json")
    assert listing.returncode == 0, listing.stderr
    assert any(f"{link} is a symlink" in w for w in json.loads(listing.stdout)["warnings"])
    assert cli("status", "--root", str(root)).returncode == 0
    doctor = json.loads(cli("doctor", "--root", str(root), "--json").stdout)
    assert any(f["check"] == "state" and not f["ok"] and f["fix"] for f in doctor["findings"])
    assert tree_state(outside) == outside_before

    _unplant(link, outside)
    assert deploy_ok(cli, root, app) not in (first, second)
    assert cli("rollback", "--root", str(root)).returncode == 0


@pytest.mark.parametrize(("name", "kind"), [("meta", "file"), ("history.jsonl", "dir")])
def test_a_layout_entry_of_the_wrong_kind_is_refused(
    cli: Cli, root: Path, app: Path, name: str, kind: str
) -> None:
    """meta/ that is a file, a history that is a directory: deploy exits 7 naming it and
    saying how to move it away; list still works."""
    deploy_ok(cli, root, app)
    entry = root / ".releases" / name
    if entry.is_dir():
        shutil.rmtree(entry)
    else:
        entry.unlink()
    if kind == "dir":
        entry.mkdir()
    else:
        entry.write_text("not a directory\n")
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 7, result.stderr
    assert f"{entry} is a " in result.stderr and f"fix: mv {entry}" in result.stderr
    assert cli("list", "--root", str(root)).returncode == 0


def test_a_planted_meta_link_is_damage_never_data(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """meta/<id>.json as a link to a perfectly good meta outside: not read (the release is
    incomplete, named in a warning), rollback --to refuses it, deploys with keep=1 never prune
    it, and the file it points at is never changed."""
    old = deploy_ok(cli, root, app)
    deploy_ok(cli, root, app)
    meta = root / ".releases" / "meta" / f"{old}.json"
    (outside / "precious.txt").write_bytes(meta.read_bytes())
    meta.unlink()
    meta.symlink_to(outside / "precious.txt")
    outside_before = tree_state(outside)
    listing = cli("list", "--root", str(root), "--json")
    record = next(r for r in json.loads(listing.stdout)["releases"] if r["id"] == old)
    assert record["status"] == "incomplete"
    assert f"{meta} is a symlink" in listing.stderr
    assert cli("rollback", "--root", str(root), "--to", old).returncode == 3
    for _ in range(2):
        deploy_ok(cli, root, app, "--keep", "1")
    assert (root / "releases" / old).is_dir() and meta.is_symlink()
    assert tree_state(outside) == outside_before


def test_meta_and_log_writes_replace_a_planted_link(root: Path, app: Path, outside: Path) -> None:
    """Links planted at the meta file and the log of the release the next deploy makes: the
    deploy writes a regular meta file and log in their place; the files they pointed at are
    unchanged."""
    deploy_root = DeployRoot(root)
    deploy_root.ensure_layout()
    (deploy_root.meta_dir / f"{NEXT_ID}.json").symlink_to(outside / "precious.txt")
    (deploy_root.logs / f"{NEXT_ID}.log").symlink_to(outside / "precious.txt")
    outside_before = tree_state(outside)
    options = DeployOptions(LocalSource(app), BuildConfig(commands=("echo built-it",)))
    result = deploy(deploy_root, options, lambda: MOMENT, quiet)
    assert result.id == NEXT_ID
    meta, log = deploy_root.meta(NEXT_ID), deploy_root.log(NEXT_ID)
    assert not meta.is_symlink() and json.loads(meta.read_text())["status"] == "complete"
    assert not log.is_symlink() and "built-it" in log.read_text()
    assert tree_state(outside) == outside_before


def test_restart_output_replaces_a_planted_log_link(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """A link planted at the rollback target's log: the restart's output goes to a new regular
    log, never to what the link pointed at."""
    first = deploy_ok(cli, root, app)
    deploy_ok(cli, root, app)
    log = root / ".releases" / "logs" / f"{first}.log"
    log.unlink(missing_ok=True)
    log.symlink_to(outside / "precious.txt")
    outside_before = tree_state(outside)
    back = cli("rollback", "--root", str(root), "--restart", "echo restarted-here")
    assert back.returncode == 0, back.stderr
    assert not log.is_symlink() and "restarted-here" in log.read_text()
    assert tree_state(outside) == outside_before


def test_planted_trash_entries_are_unlinked_and_cost_no_release_its_meta(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """Links in the trash (one named like a kept release's pruned copy) and a directory named
    like a kept release's: the next command empties the trash without following a link, and
    recovery does not mistake them for an interrupted prune (every kept release keeps its
    meta and stays complete)."""
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    trash = root / ".releases" / "trash"
    trash.mkdir(exist_ok=True)
    (trash / f"{first}-0bad").symlink_to(outside / "deep")
    (trash / "junk").symlink_to(outside / "precious.txt")
    (trash / f"{second}-beef").mkdir()
    outside_before = tree_state(outside)
    third = deploy_ok(cli, root, app)
    assert list(trash.iterdir()) == []
    assert tree_state(outside) == outside_before
    listing = json.loads(cli("list", "--root", str(root), "--json").stdout)
    assert {r["id"]: r["complete"] for r in listing["releases"]} == {
        first: True,
        second: True,
        third: True,
    }
    assert "prune_interrupted" not in (root / ".releases" / "history.jsonl").read_text()


@pytest.mark.parametrize("kind", ["fifo", "dir", "huge"])
def test_a_meta_file_that_is_no_file_never_hangs_or_fails(
    cli: Cli, root: Path, app: Path, kind: str
) -> None:
    """A meta file that is a FIFO (a read would block), a directory, or larger than any meta:
    list, prune and deploy finish, warn naming it, and keep that release."""
    old = deploy_ok(cli, root, app)
    deploy_ok(cli, root, app)
    meta = root / ".releases" / "meta" / f"{old}.json"
    meta.unlink()
    if kind == "fifo":
        os.mkfifo(meta)
    elif kind == "dir":
        meta.mkdir()
    else:
        meta.write_bytes(b" " * (2 << 20))
    listing = cli("list", "--root", str(root), timeout=30)
    assert listing.returncode == 0 and str(meta) in listing.stderr
    assert cli("prune", "--root", str(root), "--keep", "1", timeout=30).returncode == 0
    deploy_ok(cli, root, app, "--keep", "1")
    assert (root / "releases" / old).is_dir()
