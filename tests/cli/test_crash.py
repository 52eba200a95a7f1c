"""Crash safety: SIGKILL at every named fault point of deploy, rollback and prune.

Each test kills a real `releases` subprocess at one point (RELEASES_FAULT, see faults.py), then
checks what a user relies on: `current` still resolves to a complete release, nothing complete
was lost, the next command cleans up and says so, the history tells what happened, and the
release the crash left half-made is shown as such and pruned.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import Cli, current_id, deploy_ok, history_of, list_json, meta_of

KILLED = -9  # subprocess returncode of a process that died of SIGKILL


def _many_files(app: Path) -> Path:
    """Enough files that the copy reaches the mid_export point (after 10 files)."""
    for i in range(20):
        (app / f"file{i}.txt").write_text(f"content {i}\n")
    return app


def _fingerprint(release: Path) -> str:
    """A digest of every file's path and content: equal means the release is intact."""
    digest = hashlib.sha256()
    for path in sorted(release.rglob("*")):
        digest.update(str(path.relative_to(release)).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _complete_releases(root: Path) -> dict[str, str]:
    """Fingerprints of every release whose meta says complete."""
    found = {}
    for meta in (root / ".releases" / "meta").glob("*.json"):
        body = json.loads(meta.read_text())
        release = root / "releases" / body["id"]
        if body.get("status") == "complete" and release.is_dir():
            found[body["id"]] = _fingerprint(release)
    return found


def _assert_current_complete(root: Path) -> str:
    """Invariant 1: `current` is a relative link to a complete release that resolves."""
    target = os.readlink(root / "current")
    assert target.startswith("releases/"), target
    live = target.split("/", 1)[1]
    meta = meta_of(root, live)
    assert meta["status"] == "complete"
    assert (root / "current" / "index.html").is_file()
    return live


def _new_release(root: Path, before: set[str]) -> str | None:
    """The release directory the killed command made, if any."""
    made = {p.name for p in (root / "releases").iterdir()} - before
    assert len(made) <= 1
    return made.pop() if made else None


# (fault point, extra deploy args, is the new release live after the crash?, its status then)
DEPLOY_POINTS = [
    ("after_mkdir", (), False, "incomplete"),
    ("mid_export", (), False, "incomplete"),
    ("after_prepare", (), False, "incomplete"),
    ("mid_build", ("--build", "true"), False, "incomplete"),
    ("torn:deploy_started", (), False, "incomplete"),
    ("after_complete", (), False, "complete"),
    ("after_temp_link", (), False, "complete"),
    ("after_switch", (), True, "current"),
    ("torn:switch", (), True, "current"),
    ("torn:deploy_finished", (), True, "current"),
    ("mid_prune", ("--keep", "1"), True, "current"),
    ("torn:prune", ("--keep", "1"), True, "current"),
]


@pytest.mark.parametrize(
    ("point", "extra", "goes_live", "status"), DEPLOY_POINTS, ids=[p[0] for p in DEPLOY_POINTS]
)
def test_deploy_killed_at_each_point(
    cli: Cli,
    root: Path,
    app: Path,
    point: str,
    extra: tuple[str, ...],
    goes_live: bool,
    status: str,
) -> None:
    """SIGKILL at this point of a deploy: current stays (or becomes) a complete release, no
    complete release is lost or altered, the half-made release is listed as such, and the next
    deploy succeeds, reports the cleanup, records it in the history and prunes the debris."""
    _many_files(app)
    old = [deploy_ok(cli, root, app, "--keep", "5") for _ in range(3)]
    before = _complete_releases(root)
    dirs_before = {p.name for p in (root / "releases").iterdir()}

    killed = cli(
        "deploy", "--root", str(root), "--source", str(app), *extra, env={"RELEASES_FAULT": point}
    )
    assert killed.returncode == KILLED, killed.stderr
    new = _new_release(root, dirs_before)
    assert new is not None
    live = _assert_current_complete(root)
    assert live == (new if goes_live else old[-1])
    after = _complete_releases(root)
    for release_id, fingerprint in after.items():
        if release_id in before:
            assert before[release_id] == fingerprint, f"{release_id} was altered"
    pruned_by_crash = set(before) - set(after)
    allowed = {old[0]} if point == "mid_prune" else set()
    assert pruned_by_crash <= allowed
    listed = {r["id"]: r for r in list_json(cli, root)["releases"]}
    assert listed[new]["status"] == status

    nxt = cli("deploy", "--root", str(root), "--source", str(app), "--keep", "5")
    assert nxt.returncode == 0, nxt.stderr
    if point == "torn:prune":  # torn before anything was deleted: only the line is damaged
        assert "corrupt line" in nxt.stderr
    else:
        assert "recovered:" in nxt.stderr
    final = _assert_current_complete(root)
    assert final not in (new, *old), "the next deploy makes and switches to a fresh release"
    for release_id in set(before) - pruned_by_crash:
        assert _complete_releases(root).get(release_id) == before[release_id], release_id
    events = history_of(root, torn=True)
    interrupted = [e for e in events if e["event"] == "deploy_interrupted"]
    if not point.endswith("prune"):  # those crash after deploy_finished was written
        assert [e["id"] for e in interrupted] == [new]
    if status == "incomplete":
        assert not (root / "releases" / new).exists(), "the next deploy prunes the debris"
    if goes_live and point != "torn:deploy_finished" and not point.endswith("prune"):
        recovered = [e for e in events if e.get("reason") == "recovered"]
        assert [e["id"] for e in recovered] == [new], "the missed switch is in the history"
    if point == "mid_prune":
        gone = [e["id"] for e in events if e["event"] == "prune_interrupted"]
        assert gone == [old[0]] and not list((root / ".releases" / "trash").iterdir())
        # the prune the crash cut short is finished with the release's records: meta and log
        assert not (root / ".releases" / "meta" / f"{old[0]}.json").exists()
        assert not (root / ".releases" / "logs" / f"{old[0]}.log").exists()
    _assert_every_deploy_closed(events)
    assert list_json(cli, root)["warnings"] == [] or point.startswith("torn:")


def _assert_every_deploy_closed(events: list[dict[str, Any]]) -> None:
    started = {e["id"] for e in events if e["event"] == "deploy_started"}
    closed = {
        e["id"]
        for e in events
        if e["event"] in ("deploy_finished", "deploy_failed", "deploy_interrupted")
    }
    assert started <= closed, f"deploys never closed in the history: {started - closed}"


ROLLBACK_POINTS = ["after_temp_link", "rollback_after_switch", "torn:switch"]


@pytest.mark.parametrize("point", ROLLBACK_POINTS)
def test_rollback_killed_at_each_point(cli: Cli, root: Path, app: Path, point: str) -> None:
    """SIGKILL during a rollback: current is the old or the target release (both complete);
    the next rollback or deploy works, and a missed switch is recorded as recovered so that
    rollback history still walks back correctly."""
    first, second, third = (deploy_ok(cli, root, app) for _ in range(3))
    before = _complete_releases(root)
    killed = cli("rollback", "--root", str(root), env={"RELEASES_FAULT": point})
    assert killed.returncode == KILLED
    live = _assert_current_complete(root)
    assert live == (third if point == "after_temp_link" else second)
    assert _complete_releases(root) == before, "a rollback never deletes or alters a release"

    again = cli("rollback", "--root", str(root))
    assert again.returncode == 0, again.stderr
    assert "recovered:" in again.stderr
    assert current_id(root) == (second if point == "after_temp_link" else first)
    if point != "after_temp_link":
        recovered = [e for e in history_of(root, torn=True) if e.get("reason") == "recovered"]
        assert [e["id"] for e in recovered] == [second]
    assert not list(root.glob(".current.tmp-*"))
    assert deploy_ok(cli, root, app) not in before


PRUNE_POINTS = ["mid_prune", "torn:prune"]


@pytest.mark.parametrize("point", PRUNE_POINTS)
def test_prune_killed_at_each_point(cli: Cli, root: Path, app: Path, point: str) -> None:
    """SIGKILL during `prune`: kept releases are intact, the half-deleted one is finished off by
    the next command (which says so and records it), and nothing kept is touched."""
    ids = [deploy_ok(cli, root, app, "--keep", "9") for _ in range(4)]
    before = _complete_releases(root)
    killed = cli("prune", "--root", str(root), "--keep", "1", env={"RELEASES_FAULT": point})
    assert killed.returncode == KILLED
    assert _assert_current_complete(root) == ids[-1]
    for release_id in ids[2:]:
        assert _complete_releases(root)[release_id] == before[release_id]
    again = cli("prune", "--root", str(root), "--keep", "1")
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (root / "releases").iterdir()) == ids[2:]
    assert not list((root / ".releases" / "trash").iterdir())
    assert sorted(p.stem for p in (root / ".releases" / "meta").glob("*.json")) == ids[2:]
    if point == "mid_prune":
        assert "finished deleting" in again.stderr
        assert any(e["event"] == "prune_interrupted" for e in history_of(root, torn=True))
