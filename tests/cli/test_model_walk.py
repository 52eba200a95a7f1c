"""Every command works after every event, in both modes.

First, every event the code can write, read back by every reader: a history holding one of
each (with the ids of real releases) must render through history, list, status, doctor, diff
and logs, as text and as --json. Adding an event kind without teaching every reader about it
fails here, not on a user's server.

Then the model walk (tests/modelwalk.py): seeded random sequences of every state-changing
command in reload mode and in blue-green mode (real PM2 and nginx), every read command and
invariant after each step. A failure names its seed; MODEL_WALK_SEED=N replays that walk and
MODEL_WALK_STEPS=N makes walks longer, for a hunt."""

from __future__ import annotations

import json
import os
import random
import re
import typing
from pathlib import Path

import pytest
from bgstack import Stack
from helpers import REPO, Cli, deploy_ok
from modelwalk import Walk, health_server, reload_config

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
    if name in ("previous", "stable"):
        return ids[1]
    if name == "figures":
        return {ids[0]: {"requests": 60.0, "errors_5xx": 3.0, "p95_ms": 40.0}}
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
    first, second = two_deploys(cli, root, app)
    payload = sample(kind, [second, first])
    events.record(DeployRoot(root), payload)
    read_everything(cli, root, events.name_of(payload).value)


def test_every_reader_renders_an_event_of_a_newer_version(cli: Cli, root: Path, app: Path) -> None:
    """An event this version does not know (a newer writer's) breaks no reader: its row shows
    the raw name."""
    first, _ = two_deploys(cli, root, app)
    line = {"v": 1, "ts": "2026-12-04T12:00:00.000Z", "event": "a_newer_event", "id": first}
    with (root / ".releases" / "history.jsonl").open("a") as log:
        log.write(json.dumps(line) + "\n")
    assert read_everything(cli, root, "a_newer_event")["kind"] == "a_newer_event"


def two_deploys(cli: Cli, root: Path, app: Path) -> tuple[str, str]:
    assert cli("init", "--root", str(root)).returncode == 0
    return deploy_ok(cli, root, app), deploy_ok(cli, root, app)


def read_everything(cli: Cli, root: Path, name: str) -> dict[str, object]:
    """Every read command, text and --json, exits 0; the `history --json --all` row of the
    event `name`, which `history --all` shows too."""
    shown: dict[tuple[str, ...], str] = {}
    for command in ("history", "list", "status", "doctor", "diff", "logs"):
        for extra in VARIANTS.get(command, ((), ("--json",))):
            result = cli(command, "--root", str(root), *extra)
            assert result.returncode == 0, (command, extra, result.stderr)
            assert "Traceback" not in result.stderr
            if "--json" in extra:
                json.loads(result.stdout)
            key = (command, *extra)
            shown[key] = result.stdout
    rows = json.loads(shown[("history", "--json", "--all")])["events"]
    row: dict[str, object] = next(r for r in rows if r["event"] == name)
    assert row["kind"] and f" {row['kind']} " in shown[("history", "--all")]
    return row


VARIANTS = {
    "history": ((), ("--all",), ("--json",), ("--json", "--all")),
    "logs": ((),),  # no --json
}


# -- the walk ---------------------------------------------------------------------------------

FIXED_SEED = 20261204
RANDOM_SEEDS = 2  # besides the fixed one, new each run (printed on failure)


def seeds(count: int) -> list[int]:
    """The fixed seed, then `count` random ones; MODEL_WALK_SEED=N replays one walk."""
    if os.environ.get("MODEL_WALK_SEED"):
        return [int(os.environ["MODEL_WALK_SEED"])]
    return [FIXED_SEED, *(random.SystemRandom().randrange(2**32) for _ in range(count))]


def walk(w: Walk, steps: int, seed: int, opening: tuple[str, ...] = ()) -> None:
    """The `opening` operations, then `steps` random ones (MODEL_WALK_STEPS=N: N, for a longer
    hunt), every check after each; the seed in any failure."""
    steps = int(os.environ.get("MODEL_WALK_STEPS") or steps)
    try:
        w.check()
        for name in opening:
            w.step(getattr(w, name))
        for _ in range(steps):
            w.step()
    except AssertionError as error:
        raise AssertionError(f"model walk seed {seed} (MODEL_WALK_SEED={seed}): {error}") from None
    finally:
        w.close()
    print(
        f"model walk seed {seed}: {len(opening) + steps} steps, {len(w.steps)} commands; {w.counts}"
    )


@pytest.mark.parametrize("seed", seeds(RANDOM_SEEDS))
def test_walk_reload_mode(cli: Cli, tmp_path: Path, seed: int) -> None:
    """Reload mode (a restart command and a health URL on a stand-in app): deploy, stage,
    switch, rollback, prune, pin, freeze, pack + deploy --artifact, failed builds and health
    checks, processes holding releases open, in random order; every read command and every
    invariant after each step."""
    root, src = tmp_path / "root", tmp_path / "src"
    root.mkdir()
    src.mkdir()
    (src / "index.html").write_text("hello\n")
    assert cli("init", "--root", str(root)).returncode == 0
    with health_server(root) as port:
        reload_config(root, port)
        walk(Walk(cli, root, tmp_path, random.Random(seed)), 40, seed)


def blue_green_walks() -> list[tuple[int, str]]:
    """Each seed with grace 8s (warm, then cold), the fixed one (or a replay) with grace 0 too."""
    first, *others = seeds(1)
    return [(first, "0"), (first, "8s"), *((seed, "8s") for seed in others)]


@pytest.mark.parametrize(("seed", "grace"), blue_green_walks())
def test_walk_blue_green(cli: Cli, stack: Stack, seed: int, grace: str) -> None:
    """Blue-green mode with a real PM2 and nginx, grace 0 (the previous app stopped at once)
    and a few seconds (warm, then stopped by a later command or reap: warm and cold
    rollbacks): the same walk, and nginx serves what `current` names."""
    stack.config(grace=grace)
    toml = stack.root / "releases.toml"  # an unhealthy app fails its start check sooner
    toml.write_text(toml.read_text().replace("start_timeout = 20", "start_timeout = 5"))
    w = Walk(cli, stack.root, stack.work, random.Random(seed), stack=stack)
    with toml.open("a") as settings:  # the walk promotes or aborts each canary by hand
        settings.write("[analysis]\ninterval = 600\n")
    # A warm or cold rollback first, then a canary promoted or aborted.
    walk(w, 6, seed, opening=("deploy", "deploy", "rollback", "canary"))
