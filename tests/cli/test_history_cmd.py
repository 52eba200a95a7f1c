"""`releases history`: the event log as a table and as JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import Cli, current_id, deploy_ok
from jsonshapes import problems

from releases_cli.cli.timeline import HistoryJson as HISTORY


def _story(cli: Cli, root: Path, app: Path) -> tuple[str, str]:
    """Two deploys, a failed build, a rollback, a prune: every kind of row."""
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    failed = cli("deploy", "--root", str(root), "--source", str(app), "--build", "exit 7")
    assert failed.returncode == 6
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert cli("prune", "--root", str(root), "--keep", "1").returncode == 0
    return first, second


def test_history_table_shows_what_happened_newest_first(cli: Cli, root: Path, app: Path) -> None:
    """One row per deploy, failure, rollback and prune, newest first, each with when (in
    words), who, and how long; the bookkeeping events (deploy start, the deploy's own switch)
    are not repeated as rows."""
    first, second = _story(cli, root, app)
    result = cli("history", "--root", str(root))
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["WHEN", "EVENT", "RELEASE", "DETAILS", "WHO", "TOOK"]
    events = [re.split(r"\s{2,}", row)[1] for row in rows]
    assert events == ["prune", "rollback", "failed", "deploy", "deploy"], rows
    assert f"from {second}" in rows[1] and first in rows[1]
    assert "exit code 7" in rows[2]
    assert f"previous {first}" in rows[3] and "previous none" in rows[4]
    assert all(re.search(r"(now|ago)", row) for row in rows)
    assert all(re.search(r"\d+(ms|\.\ds|s)$", row) for row in rows[1:]), rows


def test_history_limit_and_all(cli: Cli, root: Path, app: Path) -> None:
    """-n N keeps the newest N rows; --all also shows the deploy start and switch events."""
    _story(cli, root, app)
    limited = cli("history", "--root", str(root), "-n", "2")
    assert len(limited.stdout.splitlines()) == 3
    everything = cli("history", "--root", str(root), "--all", "--json")
    kinds = [e["kind"] for e in json.loads(everything.stdout)["events"]]
    assert "deploy_started" in kinds and "switch" in kinds


def test_history_json_has_the_documented_shape(cli: Cli, root: Path, app: Path) -> None:
    """history --json validates against timeline.HistoryJson and carries the facts of each
    row."""
    first, second = _story(cli, root, app)
    result = cli("history", "--root", str(root), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert problems(document, HISTORY) == []
    prune, rollback, failed, deploy2, _deploy1 = document["events"]
    assert prune["kind"] == "prune" and prune["ids"]
    assert (rollback["kind"], rollback["id"], rollback["previous"]) == ("rollback", first, second)
    assert failed["kind"] == "failed" and "exit code 7" in failed["error"]
    assert deploy2["kind"] == "deploy" and deploy2["seconds"] > 0 and deploy2["user"]


def test_history_of_a_directory_that_is_not_a_root_fails_cleanly(cli: Cli, root: Path) -> None:
    """Not a deploy root: exit 4 and one line, nothing created."""
    result = cli("history", "--root", str(root))
    assert result.returncode == 4 and "not a deploy root" in result.stderr
    assert list(root.iterdir()) == []


def test_history_survives_a_corrupt_line(cli: Cli, root: Path, app: Path) -> None:
    """A damaged history line is skipped and reported as a warning, in the JSON too."""
    deploy_ok(cli, root, app)
    with (root / ".releases" / "history.jsonl").open("a") as log:
        log.write("{not json\n")
    deploy_ok(cli, root, app)
    result = cli("history", "--root", str(root), "--json")
    document = json.loads(result.stdout)
    assert problems(document, HISTORY) == []
    assert [e["kind"] for e in document["events"]] == ["deploy", "deploy"]
    assert document["warnings"] and "corrupt" in document["warnings"][0]
    assert current_id(root) == document["events"][0]["id"]


def test_rows_name_every_event_the_tool_writes() -> None:
    """Pure: every event name the pipelines record maps to a row kind (bookkeeping hidden),
    an automatic switch-back is told apart from a rollback, and an event this version does not
    know is shown under its raw name instead of being dropped."""
    from datetime import datetime

    from releases_cli.cli.timeline import details, rows
    from releases_cli.core import events as ev
    from releases_cli.core.compat import UTC
    from releases_cli.core.events import Event, Payload, SwitchReason, name_of

    when = datetime(2026, 11, 26, tzinfo=UTC)

    def event(payload: Payload) -> Event:
        return Event(name_of(payload), when, payload, None, None, {})

    events = [
        event(ev.DeployStarted("A", {"revision": "a1b2c3d4", "subject": "Fix cart"})),
        event(ev.Switch("A", None, SwitchReason.DEPLOY)),
        event(ev.DeployFinished("A", previous=None, seconds=4.2)),
        event(ev.Switch("B", None, SwitchReason.ROLLBACK, True, "health check failed")),
        event(ev.RollbackUnhealthy("B", None, error="restart failed")),
        event(ev.PruneInterrupted("C")),
        event(ev.StageFinished("D", seconds=3.0)),
        event(ev.SwitchFinished("D", previous="A", seconds=0.1)),
        Event("from_the_future", when, None, None, None, {"id": "E"}),
    ]
    found = rows(events, None)
    assert [r.kind for r in found] == [
        "from_the_future", "switch", "stage", "prune", "unhealthy", "auto-rollback", "deploy",
    ]  # fmt: skip
    by_kind = {r.kind: r for r in found}
    assert details(by_kind["deploy"]) == 'a1b2c3d "Fix cart"; previous none'
    assert "health check failed" in details(by_kind["auto-rollback"])
    assert details(by_kind["prune"]) == "deleted 1: C"
    assert details(by_kind["unhealthy"]) == "restart failed"
    assert len(rows(events, None, everything=True)) == len(events)
    assert len(rows(events, 2)) == 2
