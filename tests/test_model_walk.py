"""Every command works after every event, in both modes.

First, every event the code can write, read back by every reader: a history holding one of
each (with the ids of real releases) must render through history, list, status, doctor, diff
and logs, as text and as --json. Adding an event kind without teaching every reader about it
fails here, not on a user's server."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pytest
from helpers import REPO, Cli, deploy_ok

from releases_cli.core import events
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import SourceInfo


def writer_calls() -> set[str]:
    """The payload classes the code passes to `record(...)` (a scan of the source)."""
    found: set[str] = set()
    for path in (REPO / "releases_cli").rglob("*.py"):
        found |= set(
            re.findall(r"\brecord\(\s*[\w.]+,\s*(?:events\.)?([A-Z]\w+)\(", path.read_text())
        )
    return found


def test_every_event_name_has_one_payload_type() -> None:
    """The single definition is complete: each EventName has a payload type, each payload type
    one name, and every payload the code records is one of them."""
    assert set(events.NAMES.values()) == set(events.EventName)
    assert set(typing.get_args(events.Payload)) == set(events.NAMES)
    written = writer_calls()
    assert written, "the scan found no record() call: the pattern is out of date"
    assert written <= {kind.__name__ for kind in events.NAMES}


def sample(kind: type[events.Payload], ids: list[str]) -> events.Payload:
    """An instance of `kind` with every field filled (optional ones too), naming real ids."""
    values: dict[str, typing.Any] = {}  # typed per field by _value
    for name, hint in typing.get_type_hints(kind).items():
        values[name] = _value(name, hint, ids)
    return kind(**values)


def _value(name: str, hint: object, ids: list[str]) -> object:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if typing.get_origin(hint) in (typing.Union, type(int | None)) else hint
    if name == "id":
        return ids[0]
    if name == "previous":
        return ids[1]
    if name == "ids":
        return (ids[1],)
    if name == "reasons":
        return {ids[1]: "beyond keep"}
    if base is SourceInfo:
        return SourceInfo(type="dir", path="/src", revision="0" * 40, subject="a commit")
    if base is bool:
        return True
    if base is int:
        return 3001
    if base is float:
        return 1.5
    if base is str or typing.get_origin(base) is typing.Annotated:
        return f"{name} text"
    raise AssertionError(f"no sample for field {name}: {hint!r}")


@pytest.mark.parametrize("kind", list(events.NAMES), ids=lambda k: events.NAMES[k].value)
def test_every_reader_renders_every_event(cli: Cli, root: Path, app: Path, kind: type) -> None:
    """One event of this kind after two deploys: every read command exits 0 with no
    traceback, its --json is JSON, and `history --all` shows the event's row (its kind in the
    table, its name in --json)."""
    assert cli("init", "--root", str(root)).returncode == 0
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    payload = sample(kind, [second, first])
    events.record(DeployRoot(root), payload)
    name = events.name_of(payload).value
    shown: dict[tuple[str, ...], str] = {}
    for command in ("history", "list", "status", "doctor", "diff", "logs"):
        for extra in VARIANTS.get(command, ((), ("--json",))):
            result = cli(command, "--root", str(root), *extra)
            assert result.returncode == 0, (command, extra, result.stderr)
            assert "Traceback" not in result.stderr
            if "--json" in extra:
                json.loads(result.stdout)
            shown[(command, *extra)] = result.stdout
    rows = json.loads(shown[("history", "--json", "--all")])["events"]
    row = next(r for r in rows if r["event"] == name)
    assert row["kind"] and f" {row['kind']} " in shown[("history", "--all")]


VARIANTS = {
    "history": ((), ("--all",), ("--json",), ("--json", "--all")),
    "logs": ((),),  # no --json
}
