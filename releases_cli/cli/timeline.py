"""`releases history`: the event log as rows a person reads (table) or a script reads (JSON).

`rows()` is pure: it turns raw history events into one row per thing that happened (a deploy,
a failure, a rollback, a prune, ...), hiding the bookkeeping events that another row already
tells (a deploy's start and its switch), unless `everything` is asked for. Events this version
does not know are shown with their raw name, so a newer writer never breaks an older reader.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from releases_cli.cli.shapes import VERSION
from releases_cli.cli.summary import duration
from releases_cli.core.history import Event, History

# Events whose story another row already tells.
_BOOKKEEPING = frozenset({"deploy_started"})
_SWITCH_KINDS = {"rollback": "rollback", "recovered": "recovered", "deploy": "switch"}
_KINDS = {
    "deploy_finished": "deploy",
    "deploy_failed": "failed",
    "deploy_interrupted": "interrupted",
    "prune": "prune",
    "stage_finished": "stage",  # `releases stage`: built, not live
    "switch_finished": "switch",  # `releases switch`: a staged release made live
    "rollback_unhealthy": "unhealthy",  # rolled back, but restart/health failed
    "switch_back_unhealthy": "unhealthy",  # a deploy's switch-back target failed its check too
    "current_removed": "current removed",  # a first deploy failed its check: nothing is live
    "prune_interrupted": "prune",  # recovery finished deleting what a crash left in the trash
}


@dataclass(frozen=True)
class Row:
    event: Event
    kind: str
    source: dict[str, Any]  # the deploy's source facts (revision, subject, path), if known

    def field(self, key: str) -> Any:
        return self.event.data.get(key)

    def text(self, key: str) -> str | None:
        value = self.field(key)
        return value if isinstance(value, str) else None


def kind_of(event: Event) -> str | None:
    """The row kind of an event, or None for bookkeeping that another row already shows."""
    if event.event in _BOOKKEEPING:
        return None
    if event.event == "switch":
        reason = str(event.data.get("reason") or "switch")
        if reason == "deploy":
            return None  # the deploy_finished row tells it
        if reason == "rollback" and event.data.get("automatic"):
            return "auto-rollback"
        return _SWITCH_KINDS.get(reason, "switch")
    return _KINDS.get(event.event, event.event)


def rows(events: Sequence[Event], limit: int | None, everything: bool = False) -> list[Row]:
    """The newest `limit` rows (newest first)."""
    sources: dict[str, dict[str, Any]] = {}
    found: list[Row] = []
    for event in events:
        source = event.data.get("source")
        if event.release_id and isinstance(source, dict):  # deploy_started, then _finished
            sources[event.release_id] = source
        kind = kind_of(event)
        if kind is None and everything:
            kind = event.event
        if kind is not None:
            found.append(Row(event, kind, sources.get(event.release_id or "", {})))
    found.reverse()
    return found if limit is None else found[:limit]


def _seconds(row: Row) -> float | None:
    value = row.field("seconds")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _ids(row: Row) -> list[str]:
    value = row.field("ids")
    return [str(i) for i in value] if isinstance(value, list) else []


def details(row: Row) -> str:
    """The DETAILS cell: what a person wants to know about this row at a glance."""
    if row.kind in ("deploy", "stage"):
        return _build_details(row)
    if row.kind in ("failed", "unhealthy", "current removed"):
        return _clip(row.text("error") or row.text("reason") or "")
    if row.kind in ("rollback", "auto-rollback", "switch", "recovered"):
        cause = row.text("cause")
        text = f"from {row.text('previous') or 'none'}"
        return text + (f"; {_clip(cause)}" if cause else "")
    if row.kind == "prune":
        ids = _ids(row) or [row.event.release_id or "?"]  # prune_interrupted names one id
        return f"deleted {len(ids)}: " + ", ".join(ids[:3]) + (" …" if len(ids) > 3 else "")
    if row.kind == "interrupted":
        return f"release was {row.text('found') or '?'}"
    return ""


def _build_details(row: Row) -> str:
    """What was deployed (commit, else where from), and what it replaced."""
    rev = row.source.get("revision")
    subject = row.source.get("subject")
    where = f'{str(rev)[:7]} "{subject}"' if rev and subject else str(rev or "")[:7]
    where = where or str(row.source.get("repo") or row.source.get("path") or "")
    if row.kind == "stage":
        return f"{where}; not live".lstrip("; ")
    return f"{where}; previous {row.text('previous') or 'none'}".lstrip("; ")


def table(found: Sequence[Row], now: datetime) -> str:
    import humanize  # the table needs it, `history --json` does not

    headers = ["WHEN", "EVENT", "RELEASE", "DETAILS", "WHO", "TOOK"]
    cells = [headers]
    for row in found:
        ids = _ids(row)
        release = row.event.release_id or (f"{len(ids)} release(s)" if ids else "-")
        took = _seconds(row)
        cells.append(
            [
                humanize.naturaltime(now - row.event.ts),
                row.kind,
                release,
                details(row) or "-",
                row.text("user") or "-",
                duration(took) if took is not None else "-",
            ]
        )
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def record(row: Row) -> dict[str, Any]:
    """One row in the documented JSON shape (shapes.EVENT)."""
    rev = row.source.get("revision")
    subject = row.source.get("subject")
    return {
        "ts": row.text("ts") or row.event.ts.isoformat(),
        "event": row.event.event,
        "kind": row.kind,
        "id": row.event.release_id,
        "previous": row.text("previous"),
        "ids": _ids(row),
        "user": row.text("user"),
        "host": row.text("host"),
        "seconds": _seconds(row),
        "revision": rev if isinstance(rev, str) else None,
        "subject": subject if isinstance(subject, str) else None,
        "error": row.text("error") or row.text("cause"),
        "data": row.event.data,
    }


def as_json(root: str, history: History, found: Sequence[Row]) -> str:
    return json.dumps(
        {
            "version": VERSION,
            "root": root,
            "events": [record(r) for r in found],
            "warnings": _warnings(history),
        },
        indent=2,
    )


def _warnings(history: History) -> list[str]:
    if not history.corrupt_lines:
        return []
    return [f"history has {len(history.corrupt_lines)} corrupt line(s), skipped"]


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
