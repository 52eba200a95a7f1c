"""The typed state model: every event and meta file round-trips through its one writer and one
reader, and any history line or meta file, however damaged, is either read into correctly
typed values or skipped with a one-line warning naming the file; commands keep working."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from helpers import Cli, current_id, deploy_ok
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from releases_cli.core import events as ev
from releases_cli.core import jsonfields as jf
from releases_cli.core.compat import UTC
from releases_cli.core.events import PAYLOADS, Payload, name_of, read_history, record
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import (
    CODEC,
    MetaStatus,
    ReleaseMeta,
    SourceInfo,
    read_meta,
    read_meta_file,
    write_meta,
)

RELEASE = "20261126T101500Z"
WHEN = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
release_ids = st.builds(
    lambda moment, n: moment.strftime("%Y%m%dT%H%M%SZ") + (f"-{n}" if n > 1 else ""),
    st.datetimes(min_value=datetime(1000, 1, 1)),
    st.integers(min_value=1, max_value=9999),
)
texts = st.text(max_size=20)
numbers = st.none() | st.floats(allow_nan=False, allow_infinity=False)
sources = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["dir", "git", "adopt"]),
        "path": texts,
        "repo": texts,
        "ref": st.none() | texts,
        "revision": texts,
        "subject": texts,
        "submodules": st.lists(
            st.fixed_dictionaries({"path": texts, "revision": texts, "repo": texts}), max_size=2
        ),
    },
).map(lambda d: SourceInfo(**d))  # type: ignore[typeddict-item]
# Instants as the state files keep them: UTC, to the millisecond.
moments = st.datetimes(min_value=datetime(1000, 1, 1)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=UTC)
)

payloads: st.SearchStrategy[Payload] = st.one_of(
    st.builds(ev.DeployStarted, release_ids, sources),
    st.builds(
        ev.DeployFinished, release_ids, st.none() | release_ids, numbers, st.none() | sources
    ),
    st.builds(ev.DeployFailed, release_ids, texts, numbers),
    st.builds(ev.DeployInterrupted, release_ids, texts),
    st.builds(ev.StageFinished, release_ids, numbers),
    st.builds(
        ev.Switch,
        release_ids,
        st.none() | release_ids,
        st.none() | st.sampled_from(list(ev.SwitchReason)) | texts,
        st.booleans(),
        st.none() | texts,
        numbers,
    ),
    st.builds(ev.SwitchFinished, release_ids, st.none() | release_ids, numbers),
    st.builds(ev.SwitchBackUnhealthy, release_ids, texts),
    st.builds(ev.RollbackUnhealthy, release_ids, st.none() | release_ids, texts),
    st.builds(ev.CurrentRemoved, release_ids, texts),
    st.builds(
        ev.Prune,
        st.lists(release_ids, max_size=3).map(tuple),
        st.dictionaries(release_ids, texts, max_size=3),
        st.none() | st.integers(min_value=1),
    ),
    st.builds(ev.PruneInterrupted, release_ids),
)
metas = st.builds(
    ReleaseMeta,
    st.just(RELEASE),
    st.sampled_from(list(MetaStatus)),
    created_at=st.none() | moments,
    completed_at=st.none() | moments,
    failed_at=st.none() | moments,
    build_seconds=numbers,
    size=st.none() | st.integers(min_value=0),
    source=sources,
    deps=st.none() | texts,
    build=st.lists(texts, max_size=3).map(tuple),
    deployed_by=st.none() | texts,
    host=st.none() | texts,
    error=st.none() | texts,
    pinned=st.booleans(),
    adopted=st.booleans(),
)


@contextmanager
def _root() -> Iterator[DeployRoot]:
    """A fresh deploy root per Hypothesis example (tmp_path is shared by all of them)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = DeployRoot(Path(tmp))
        root.ensure_layout()
        yield root


def _line(payload: Payload, ts: jf.JsonValue = "2026-11-26T10:15:00.000Z") -> jf.JsonObject:
    return {"v": 1, "ts": ts, "event": str(name_of(payload)), "user": "u", **jf.encode(payload)}


def _well_typed(payload: Payload) -> bool:
    """Every field of `payload` has the type its reader gives (encode + decode is a no-op)."""
    return bool(ev.CODEC.decode(type(payload), jf.encode(payload)) == payload)


# Each example writes files: timings vary with the machine's load, so no deadline.
@settings(deadline=None)
@given(st.lists(payloads, max_size=6))
def test_every_event_round_trips(written: list[Payload]) -> None:
    """Whatever is recorded is read back as the same typed payload, in order."""
    with _root() as root:
        for payload in written:
            record(root, payload, lambda: WHEN)
        history = read_history(root)
    assert history.corrupt_lines == ()
    assert [(type(e.payload), e.payload) for e in history.events] == [(type(p), p) for p in written]
    assert [e.name for e in history.events] == [name_of(p) for p in written]


@settings(deadline=None)
@given(st.lists(payloads, min_size=1, max_size=4), st.data())
def test_a_damaged_field_skips_its_line_only(written: list[Payload], data: st.DataObject) -> None:
    """One key of one line replaced by any JSON value: the line is read with every field of the
    right type, or skipped and counted; every other line is read as written."""
    victim = data.draw(st.integers(min_value=0, max_value=len(written) - 1))
    line = _line(written[victim])
    key = data.draw(st.sampled_from(sorted(line)))
    line[key] = data.draw(json_values)
    lines = [json.dumps(_line(p)) for p in written]
    lines[victim] = json.dumps(line)
    with _root() as root:
        root.history_file.write_text("\n".join(lines) + "\n")
        history = read_history(root)
    others = [p for i, p in enumerate(written) if i != victim]
    if history.corrupt_lines:
        assert history.corrupt_lines == (victim + 1,)
        assert [(type(e.payload), e.payload) for e in history.events] == [
            (type(p), p) for p in others
        ]
    else:
        assert len(history.events) == len(written)
        for event in history.events:
            assert event.ts.utcoffset() is not None
            assert event.payload is None or _well_typed(event.payload)


@settings(deadline=None)
@given(st.lists(json_values.map(json.dumps) | st.text(max_size=30), max_size=6))
@example(['{"event": "switch", "ts": 1764152100, "id": "20261126T101500Z"}'])
@example(['{"event": "switch", "ts": "2026-11-26T10:15:00", "id": "20261126T101500Z"}'])
@example(['{"event": "switch", "ts": "2026-11-26T10:15Z", "id": "\uff12\uff10261126T101500Z"}'])
@example(['{"event": "prune", "ts": "2026-11-26T10:15:00Z", "ids": "20261126T101500Z"}'])
def test_any_history_line_is_an_event_or_a_counted_skip(lines: list[str]) -> None:
    """Arbitrary lines (any JSON value, any text; a number or a naive time as `ts`, a look-alike
    id): read_history never raises, and each non-blank line is one typed event or one skip."""
    with _root() as root:
        root.history_file.write_text("\n".join(lines) + "\n")
        data = root.history_file.read_bytes()
        history = read_history(root)
    non_blank = [line for line in data.splitlines() if line.strip()]
    assert len(history.events) + len(history.corrupt_lines) == len(non_blank)
    for event in history.events:
        assert isinstance(event.name, str) and event.ts.utcoffset() is not None
        assert event.payload is None or (
            type(event.payload) is PAYLOADS[event.name] and _well_typed(event.payload)
        )


@settings(deadline=None)
@given(metas)
def test_every_meta_round_trips(meta: ReleaseMeta) -> None:
    """What write_meta writes, read_meta reads back unchanged (false and [] included)."""
    with _root() as root:
        write_meta(root, meta)
        assert read_meta(root, RELEASE) == meta


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values | metas.map(jf.encode), st.data())
@example({"id": RELEASE, "status": "complete", "completed_at": 5}, None)
@example({"id": RELEASE, "status": "complete", "created_at": "2026-11-26T10:15:00"}, None)
@example([1, 2], None)
def test_any_meta_file_is_a_meta_or_a_named_problem(
    value: jf.JsonValue, data: st.DataObject | None
) -> None:
    """Any JSON value as a meta file (and a valid meta with one key replaced by any value):
    read_meta_file never raises; it gives a well-typed meta of this release, or none and a
    problem naming the file."""
    if data is not None and isinstance(value, dict) and value:
        value[data.draw(st.sampled_from(sorted(value)))] = data.draw(json_values)
    with _root() as root:
        root.meta(RELEASE).write_text(json.dumps(value))
        found = read_meta_file(root, RELEASE)
        shown = str(root.meta(RELEASE))
    if found.meta is not None:
        assert found.problem is None and found.meta.id == RELEASE
        assert CODEC.decode(ReleaseMeta, jf.encode(found.meta)) == found.meta
    else:
        assert found.problem is not None and shown in found.problem


def test_meta_is_built_in_one_place() -> None:
    """ReleaseMeta.completed/failed/marked_failed fill the fields a deploy, an adopt and a
    failed health check record, and nothing else."""
    source = SourceInfo(type="dir", path="/src")
    done = ReleaseMeta.completed(RELEASE, lambda: WHEN, source, 1.23456, 42, ("make",), "installed")
    assert (done.status, done.completed_at, done.build_seconds, done.size) == (
        MetaStatus.COMPLETE,
        WHEN,
        1.235,
        42,
    )
    assert done.created_at == WHEN and done.deployed_by and done.host and done.failed_at is None
    failed = done.marked_failed(lambda: WHEN, "health check failed")
    assert failed == done._replace(
        status=MetaStatus.FAILED, failed_at=WHEN, error="health check failed"
    )
    broken = ReleaseMeta.failed(RELEASE, lambda: WHEN, source, "exit 2")
    assert {name for name in broken._fields if getattr(broken, name) in (None, (), False)} >= {
        "completed_at",
        "build_seconds",
        "size",
        "build",
    }


def test_damaged_history_and_meta_are_one_line_warnings(cli: Cli, root: Path, app: Path) -> None:
    """History lines with a number or a naive time as `ts` and a meta with a number for a
    timestamp: list, status, history, rollback, prune and deploy all work; list warns once per
    file, on one line naming it; the damaged release is kept and never rolled back to."""
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    third = deploy_ok(cli, root, app)
    history = root / ".releases" / "history.jsonl"
    with history.open("a") as log:
        log.write(json.dumps({"event": "switch", "ts": 5, "id": first, "reason": "rollback"}))
        log.write("\n" + json.dumps({"event": "switch", "ts": "2026-01-01T00:00:00", "id": first}))
        log.write("\n")
    meta = root / ".releases" / "meta" / f"{first}.json"
    meta.write_text(json.dumps(json.loads(meta.read_text()) | {"completed_at": 5}))

    listing = cli("list", "--root", str(root))
    assert listing.returncode == 0, listing.stderr
    warned = listing.stderr.splitlines()
    assert len([w for w in warned if str(history) in w]) == 1
    assert len([w for w in warned if str(meta) in w]) == 1
    for command in ("status", "history"):
        assert cli(command, "--root", str(root)).returncode == 0
    assert cli("rollback", "--root", str(root), "--to", first).returncode == 3
    back = cli("rollback", "--root", str(root))
    assert back.returncode == 0, back.stderr
    assert current_id(root) == second
    assert cli("prune", "--root", str(root), "--keep", "1").returncode == 0
    assert deploy_ok(cli, root, app, "--keep", "1") not in (first, second, third)
    assert (root / "releases" / first).is_dir(), "damaged meta: kept for a person to look at"


def test_every_event_name_has_one_payload_type() -> None:
    """Each EventName maps to exactly one payload type and back."""
    assert set(PAYLOADS) == set(ev.EventName)
    assert {name_of(p) for p in (ev.PruneInterrupted("x"), ev.DeployFailed("x", "e"))} == {
        ev.EventName.PRUNE_INTERRUPTED,
        ev.EventName.DEPLOY_FAILED,
    }
