"""`releases pin` / `unpin` (prune never deletes a pinned release; list marks it) and `-m`
messages on deploy, stage, switch and rollback (recorded in history and meta, shown by history,
list and status)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import Cli, deploy_ok, list_json, meta_of, tree_state
from jsonshapes import problems

from releases_cli.cli.timeline import HistoryJson


def _listing(cli: Cli, root: Path) -> dict[str, dict[str, object]]:
    return {r["id"]: r for r in list_json(cli, root)["releases"]}


def test_prune_never_deletes_a_pinned_release_until_unpinned(
    cli: Cli, root: Path, app: Path
) -> None:
    """An old pinned release survives prune --keep 1 (kept as "pinned", list marks it with its
    reason); once unpinned, the next prune deletes it."""
    oldest = deploy_ok(cli, root, app)
    for _ in range(3):
        deploy_ok(cli, root, app)
    pinned = cli("pin", oldest, "--root", str(root), "-m", "before the schema change")
    assert pinned.returncode == 0 and f"pinned {oldest}" in pinned.stdout
    assert meta_of(root, oldest)["pinned"] is True
    pruned = cli("prune", "--root", str(root), "--keep", "1")
    assert f"kept {oldest} (pinned)" in pruned.stdout
    listed = _listing(cli, root)[oldest]
    assert listed["pinned"] is True and listed["pin_reason"] == "before the schema change"
    table = cli("list", "--root", str(root)).stdout
    row = next(line for line in table.splitlines() if line.split()[0] == oldest)
    assert "(pinned)" in row and "pinned: before the schema change" in row
    assert cli("unpin", oldest, "--root", str(root)).returncode == 0
    assert cli("prune", "--root", str(root), "--keep", "1").returncode == 0
    assert not (root / "releases" / oldest).exists()


def test_pin_and_unpin_are_recorded_and_idempotent(cli: Cli, root: Path, app: Path) -> None:
    """pin/unpin write one history event each; repeating one changes nothing and says so."""
    release = deploy_ok(cli, root, app)
    assert cli("pin", release, "--root", str(root)).returncode == 0
    again = cli("pin", release, "--root", str(root))
    assert again.returncode == 0 and "already pinned" in again.stdout
    assert cli("unpin", release, "--root", str(root)).returncode == 0
    not_pinned = cli("unpin", release, "--root", str(root))
    assert not_pinned.returncode == 0 and "not pinned" in not_pinned.stdout
    history = json.loads(cli("history", "--root", str(root), "--json").stdout)["events"]
    assert [e["kind"] for e in history][:2] == ["unpin", "pin"]


def test_pin_refuses_unknown_malformed_and_incomplete_releases(
    cli: Cli, root: Path, app: Path
) -> None:
    """Unknown id: exit 4; malformed: exit 3; a release without meta: exit 3; no release or
    meta changes (recovery may record the planted directory as an interrupted deploy)."""
    deploy_ok(cli, root, app)
    (root / "releases" / "20200101T000000Z").mkdir()
    before = tree_state(root / "releases"), tree_state(root / ".releases" / "meta")
    assert cli("pin", "20990101T000000Z", "--root", str(root)).returncode == 4
    assert cli("pin", "../../etc", "--root", str(root)).returncode == 3
    incomplete = cli("pin", "20200101T000000Z", "--root", str(root))
    assert incomplete.returncode == 3 and "incomplete" in incomplete.stderr
    assert (tree_state(root / "releases"), tree_state(root / ".releases" / "meta")) == before


def test_messages_are_recorded_and_shown(cli: Cli, root: Path, app: Path) -> None:
    """-m on deploy, stage, switch and rollback lands in the history events (history --json
    `message`, quoted in the table), deploy/stage's in the meta, list --json and status."""
    first = deploy_ok(cli, root, app, "-m", "first: v1")
    staged = cli("stage", "--root", str(root), "--source", str(app), "-m", "staged for 42")
    assert staged.returncode == 0, staged.stderr
    second = staged.stdout.split()[-1]
    assert cli("switch", second, "--root", str(root), "-m", "rollout 42").returncode == 0
    assert cli("rollback", "--root", str(root), "-m", "500s on checkout").returncode == 0
    document = json.loads(cli("history", "--root", str(root), "--json").stdout)
    assert problems(document, HistoryJson) == []
    events = document["events"]
    said = [(e["kind"], e["message"]) for e in events]
    assert said == [
        ("rollback", "500s on checkout"),
        ("switch", "rollout 42"),
        ("stage", "staged for 42"),
        ("deploy", "first: v1"),
    ]
    assert '"500s on checkout"' in cli("history", "--root", str(root)).stdout
    assert meta_of(root, first)["message"] == "first: v1"
    listed = _listing(cli, root)
    assert listed[second]["message"] == "staged for 42"
    assert "message: first: v1" in cli("status", "--root", str(root)).stdout


def test_a_failed_deploy_records_its_message(cli: Cli, root: Path, app: Path) -> None:
    """A deploy whose build fails keeps its -m in the failed event and the failed meta."""
    deploy_ok(cli, root, app)
    failed = cli(
        "deploy", "--root", str(root), "--source", str(app), "--build", "false", "-m", "try"
    )
    assert failed.returncode == 6
    events = json.loads(cli("history", "--root", str(root), "--json").stdout)["events"]
    assert (events[0]["kind"], events[0]["message"]) == ("failed", "try")
    assert meta_of(root, events[0]["id"])["message"] == "try"
