"""`releases history`: the event log as rows a person reads (table) or a script reads (JSON).

`rows()` is pure: it turns history events into one row per thing that happened (a deploy, a
failure, a rollback, a prune, ...), hiding the bookkeeping events that another row already
tells (a deploy's start and its switch), unless `everything` is asked for. Events this version
does not know are shown with their raw name, so a newer writer never breaks an older reader.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from releases_cli.cli import text
from releases_cli.cli.render import JSON_VERSION
from releases_cli.cli.summary import duration
from releases_cli.core.clock import iso
from releases_cli.core.events import (
    AppStopped,
    CanaryAborted,
    CanaryPromoted,
    CanaryShare,
    CanaryStarted,
    CurrentRemoved,
    DeployFailed,
    DeployFinished,
    DeployInterrupted,
    DeployStarted,
    Event,
    EventName,
    Figures,
    Freeze,
    FreezeOverridden,
    History,
    Payload,
    Prune,
    RollbackUnhealthy,
    StageFinished,
    Switch,
    SwitchBackUnhealthy,
    SwitchFinished,
    SwitchReason,
    Unfreeze,
    WatchFailed,
    name_of,
)
from releases_cli.core.jsonfields import JsonObject
from releases_cli.core.meta import SourceInfo, source_location

_KINDS = {
    EventName.DEPLOY_FINISHED: "deploy",
    EventName.DEPLOY_FAILED: "failed",
    EventName.DEPLOY_INTERRUPTED: "interrupted",
    EventName.PRUNE: "prune",
    EventName.STAGE_FINISHED: "stage",  # `releases stage`: built, not live
    EventName.SWITCH_FINISHED: "switch",  # `releases switch`: a staged release made live
    EventName.ROLLBACK_UNHEALTHY: "unhealthy",  # rolled back, but restart/health failed
    EventName.SWITCH_BACK_UNHEALTHY: "unhealthy",  # a deploy's switch-back target failed too
    EventName.CURRENT_REMOVED: "current removed",  # a first deploy failed: nothing is live
    EventName.PRUNE_INTERRUPTED: "prune",  # recovery finished deleting a crash's trash
    EventName.FREEZE: "freeze",
    EventName.UNFREEZE: "unfreeze",
    EventName.FREEZE_OVERRIDDEN: "forced",  # a deploy, stage or switch ran while frozen
    EventName.PIN: "pin",
    EventName.UNPIN: "unpin",
    EventName.APP_STOPPED: "app stopped",  # blue-green: a warm release's app was stopped
    EventName.CANARY_STARTED: "canary",  # a share of visitors sent to a new release
    EventName.CANARY_SHARE: "canary",  # the next stage: a larger share
    EventName.CANARY_PROMOTED: "promoted",  # the canary became live
    EventName.CANARY_ABORTED: "aborted",  # all traffic back on the stable release
    EventName.WATCH_FAILED: "watch failed",  # the watch after a flip switched back
}
_SWITCH_KINDS: dict[str, str] = {
    SwitchReason.ROLLBACK: "rollback",
    SwitchReason.RECOVERED: "recovered",
}


class EventJson(TypedDict):
    """One row of `history --json`."""

    ts: str
    event: str  # the raw event name in history.jsonl
    kind: str  # deploy / failed / interrupted / rollback / switch / prune / recovered / ...
    id: str | None
    previous: str | None
    ids: list[str]
    user: str | None
    host: str | None
    seconds: float | None
    revision: str | None
    subject: str | None
    error: str | None
    message: str | None  # the -m of the command (deploy, stage, switch, rollback, pin, freeze)
    data: JsonObject  # the whole raw event, for anything not lifted above


class HistoryJson(TypedDict):
    version: int
    root: str
    events: list[EventJson]
    warnings: list[str]


@dataclass(frozen=True)
class Row:
    event: Event
    kind: str
    source: SourceInfo  # the deploy's source facts (revision, subject, path), if known


def kind_of(event: Event) -> str | None:
    """The row kind of an event, or None for bookkeeping that another row already shows."""
    payload = event.payload
    if payload is None:
        return event.name
    if isinstance(payload, DeployStarted):
        return None
    if isinstance(payload, Switch):
        if payload.reason == SwitchReason.DEPLOY:
            return None  # the deploy_finished row tells it
        if payload.reason == SwitchReason.ROLLBACK and payload.automatic:
            return "auto-rollback"
        return _SWITCH_KINDS.get(payload.reason or "", "switch")
    return _KINDS[name_of(payload)]


def rows(events: Sequence[Event], limit: int | None, everything: bool = False) -> list[Row]:
    """The newest `limit` rows (newest first)."""
    sources: dict[str, SourceInfo] = {}
    found: list[Row] = []
    for event in events:
        payload = event.payload
        if isinstance(payload, DeployStarted | DeployFinished) and payload.source is not None:
            sources[payload.id] = payload.source  # deploy_started, then the complete one
        kind = kind_of(event)
        if kind is None and everything:
            kind = event.name
        if kind is not None:
            found.append(Row(event, kind, sources.get(event.release_id or "", SourceInfo())))
    found.reverse()
    return found if limit is None else found[:limit]


def _previous(event: Event) -> str | None:
    payload = event.payload
    if isinstance(payload, DeployFinished | Switch | SwitchFinished | RollbackUnhealthy):
        return payload.previous
    return _raw_text(event, "previous") if payload is None else None


def _seconds(event: Event) -> float | None:
    payload = event.payload
    if isinstance(payload, DeployFinished | DeployFailed | StageFinished | Switch | SwitchFinished):
        return payload.seconds
    raw = event.raw.get("seconds") if payload is None else None
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def _error(payload: Payload | None) -> str | None:
    """Why it failed, or what caused an automatic switch back."""
    if isinstance(payload, CanaryAborted | WatchFailed):
        return payload.reason
    if isinstance(payload, DeployFailed | SwitchBackUnhealthy | RollbackUnhealthy):
        return payload.error
    if isinstance(payload, CurrentRemoved):
        return payload.reason
    if isinstance(payload, Switch):
        return payload.cause
    return None


def _ids(event: Event) -> list[str]:
    return list(event.payload.ids) if isinstance(event.payload, Prune) else []


def _raw_text(event: Event, key: str) -> str | None:
    value = event.raw.get(key)
    return value if isinstance(value, str) else None


def details(row: Row, width: int | None = 60) -> str:
    """The DETAILS cell: what a person wants to know about this row at a glance, then the
    command's -m message (quoted); long texts cut to `width` (None: in full)."""
    facts = _facts(row, width)
    message = row.event.message if row.event.payload else _raw_text(row.event, "message")
    if message and not isinstance(row.event.payload, Freeze):
        return f'{facts}; "{text.clip(message, width)}"'.lstrip("; ")
    return facts


def _freeze_facts(payload: Payload | None, width: int | None) -> str | None:
    if isinstance(payload, Freeze):
        return f'"{text.clip(payload.message, width)}"'
    if isinstance(payload, Unfreeze):
        return f"lifted {payload.frozen_by or '?'}'s freeze"
    if isinstance(payload, FreezeOverridden):
        return f'{payload.command} while frozen ("{text.clip(payload.freeze_message, width)}")'
    return None


def _facts(row: Row, width: int | None) -> str:
    frozen = _freeze_facts(row.event.payload, width)
    return frozen if frozen is not None else _change_facts(row, width)


def _change_facts(row: Row, width: int | None) -> str:
    payload = row.event.payload
    if row.kind in ("deploy", "stage"):
        return _build_details(row)
    if row.kind in ("failed", "unhealthy", "current removed"):
        return text.clip(_error(payload) or "", width)
    if row.kind in ("rollback", "auto-rollback", "switch", "recovered"):
        cause = payload.cause if isinstance(payload, Switch) else None
        moved = f"from {_previous(row.event) or 'none'}"
        return moved + (f"; {text.clip(cause, width)}" if cause else "")
    if row.kind == "prune":
        ids = _ids(row.event) or [row.event.release_id or "?"]  # prune_interrupted names one
        shown = ids if width is None else ids[:3]
        return f"deleted {len(ids)}: " + ", ".join(shown) + (" …" if shown != ids else "")
    return _note_facts(payload, width)


def _note_facts(payload: Payload | None, width: int | None) -> str:
    """What recovery found, or why a blue-green app was stopped."""
    if isinstance(payload, DeployInterrupted):
        return f"release was {payload.found or '?'}"
    if isinstance(payload, AppStopped):
        return f"port {payload.port or '?'}; {text.clip(payload.reason, width)}"
    return _canary_facts(payload, width)


def _canary_facts(payload: Payload | None, width: int | None) -> str:
    """A canary's share and stable release, or why it ended, with the figures."""
    if isinstance(payload, CanaryStarted):
        return f"{payload.share or '?'}% of visitors; stable {payload.stable or 'none'}"
    if isinstance(payload, CanaryShare):
        return f"{payload.share or '?'}% of visitors"
    if isinstance(payload, CanaryPromoted):
        how = "by analysis" if payload.automatic else "by hand"
        return f"{how}; {figures_text(payload.figures)}".removesuffix("; ")
    if isinstance(payload, CanaryAborted | WatchFailed):
        how = (
            ""
            if isinstance(payload, WatchFailed)
            else "by analysis; "
            if payload.automatic
            else "by hand; "
        )
        why = text.clip(payload.reason or "", width)
        return f"{how}{why}; {figures_text(payload.figures)}".strip("; ")
    return ""


def figures_text(figures: Figures) -> str:
    """`<id>: 120 req, 3 5xx, p95 40 ms` per release."""
    return ", ".join(
        f"{rid}: {int(f.get('requests', 0))} req, {int(f.get('errors_5xx', 0))} 5xx, "
        f"p95 {int(f.get('p95_ms', 0))} ms"
        for rid, f in sorted(figures.items())
    )


def _build_details(row: Row) -> str:
    """What was deployed (commit, else where from), and what it replaced."""
    rev = row.source.get("revision")
    subject = row.source.get("subject")
    where = f'{rev[:7]} "{subject}"' if rev and subject else (rev or "")[:7]
    where = where or source_location(row.source) or ""
    if row.kind == "stage":
        return f"{where}; not live".lstrip("; ")
    return f"{where}; previous {_previous(row.event) or 'none'}".lstrip("; ")


def table(found: Sequence[Row], now: datetime, width: int | None = 60) -> str:
    """The rows as a table; long details cut to `width` (None: in full, for a pipe or file)."""
    import humanize  # the table needs it, `history --json` does not

    cells = []
    for row in found:
        ids = _ids(row.event)
        release = row.event.release_id or (f"{len(ids)} release(s)" if ids else "-")
        took = _seconds(row.event)
        cells.append(
            [
                humanize.naturaltime(now - row.event.ts),
                row.kind,
                release,
                details(row, width) or "-",
                row.event.user or "-",
                duration(took) if took is not None else "-",
            ]
        )
    return text.table(["WHEN", "EVENT", "RELEASE", "DETAILS", "WHO", "TOOK"], cells)


def record(row: Row) -> EventJson:
    """One row in the documented JSON shape."""
    event = row.event
    written = event.raw.get("ts")
    return {
        "ts": written if isinstance(written, str) else iso(event.ts),
        "event": event.name,
        "kind": row.kind,
        "id": event.release_id,
        "previous": _previous(event),
        "ids": _ids(event),
        "user": event.user,
        "host": event.host,
        "seconds": _seconds(event),
        "revision": row.source.get("revision"),
        "subject": row.source.get("subject"),
        "error": _error(event.payload) if event.payload else _raw_text(event, "error"),
        "message": event.message if event.payload else _raw_text(event, "message"),
        "data": event.raw,
    }


def as_json(root: str, history: History, found: Sequence[Row]) -> str:
    document: HistoryJson = {
        "version": JSON_VERSION,
        "root": root,
        "events": [record(r) for r in found],
        "warnings": _warnings(history),
    }
    return json.dumps(document, indent=2)


def _warnings(history: History) -> list[str]:
    found = [history.problem] if history.problem else []
    if history.corrupt_lines:
        found.append(f"history has {len(history.corrupt_lines)} corrupt line(s), skipped")
    return found
