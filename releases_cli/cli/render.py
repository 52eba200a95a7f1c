"""Turn snapshots and results into tables (humanize) or versioned JSON. No I/O besides print."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from releases_cli.cli.shapes import VERSION
from releases_cli.cli.summary import age
from releases_cli.core.ids import id_time
from releases_cli.core.state import INCOMPLETE, Release, Snapshot

JSON_VERSION = VERSION  # one version for every --json shape (shapes.py)


def release_record(
    snap: Snapshot, release: Release, now: datetime, in_use: dict[str, list[int]]
) -> dict[str, Any]:
    """One release in the documented JSON shape (also the source of the table's cells)."""
    meta = release.meta
    raw_source = meta.get("source")
    source: dict[str, Any] = raw_source if isinstance(raw_source, dict) else {}
    created = id_time(release.id)
    return {
        "id": release.id,
        "status": snap.display_status(release),
        "complete": release.complete,
        "path": str(release.path),
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "age_seconds": round((now - created).total_seconds()),
        "size": meta.get("size"),
        "revision": source.get("revision"),
        "subject": source.get("subject"),
        "source": source.get("repo") or source.get("path"),
        "deployed_by": meta.get("deployed_by"),
        "build_seconds": meta.get("build_seconds"),
        "deps": meta.get("deps"),  # "installed" / "reused from <id>" / None (not the preset)
        "pinned": bool(meta.get("pinned")),
        "in_use_by": in_use.get(release.id, []),
        "error": meta.get("error"),
    }


def list_json(snap: Snapshot, now: datetime, in_use: dict[str, list[int]]) -> str:
    records = [release_record(snap, r, now, in_use) for r in reversed(snap.releases)]
    return json.dumps(
        {
            "version": JSON_VERSION,
            "root": str(snap.root.path),
            "current": snap.current_id,
            "previous": snap.previous,
            "releases": records,
            "warnings": warnings(snap),
        },
        indent=2,
    )


def status_json(snap: Snapshot, record: dict[str, Any] | None) -> str:
    """`status --json` (shapes.STATUS)."""
    live = snap.current_id
    return json.dumps(
        {
            "version": JSON_VERSION,
            "root": str(snap.root.path),
            "current": live,
            "path": str(snap.root.release(live)) if live else None,
            "previous": snap.previous,
            "release": record,
            "warnings": warnings(snap),
        },
        indent=2,
    )


def switch_json(release_id: str, previous: str | None, seconds: float, pruned: list[str]) -> str:
    """`switch --json` (shapes.SWITCH): one line, what the fleet playbook reads."""
    return json.dumps(
        {
            "version": JSON_VERSION,
            "id": release_id,
            "previous": previous,
            "seconds": round(seconds, 3),
            "pruned": pruned,
        }
    )


def status_text(record: dict[str, Any], previous: str | None) -> str:
    """`status` for a person: what is live, from what, since when, and what rollback picks."""
    lines = [f"current: {record['id']}", f"path: {record['path']}"]
    if record["revision"]:
        subject = f' "{_clip(record["subject"], 60)}"' if record["subject"] else ""
        lines.append(f"revision: {record['revision'][:7]}{subject}")
    elif record["source"]:
        lines.append(f"source: {record['source']}")
    # Not humanize: `status` stays as light to start as `rollback` (tests/test_perf_paths.py).
    ago = age(record["age_seconds"])
    lines.append(f"deployed: {record['created_at']} ({ago} ago) by {record['deployed_by'] or '?'}")
    lines.append(f"rollback target: {previous or 'none'}")
    return "\n".join(lines)


def list_table(snap: Snapshot, now: datetime, in_use: dict[str, list[int]]) -> str:
    import humanize  # the table needs it, `list --json` does not

    headers = ["ID", "STATUS", "AGE", "SIZE", "REVISION", "DEPLOYED BY", "BUILD", "DEPS"]
    rows = [headers]
    for release in reversed(snap.releases):
        rec = release_record(snap, release, now, in_use)
        status = rec["status"] + (" (pinned)" if rec["pinned"] else "")
        status += " (in use)" if rec["in_use_by"] and rec["status"] != "current" else ""
        revision = rec["revision"][:7] if rec["revision"] else "-"
        if rec["subject"]:
            revision += f' "{_clip(rec["subject"], 40)}"'
        rows.append(
            [
                rec["id"],
                status,
                humanize.naturaltime(now - id_time(release.id)),
                humanize.naturalsize(rec["size"], binary=True) if rec["size"] is not None else "-",
                revision,
                rec["deployed_by"] or "-",
                f"{rec['build_seconds']:.1f}s" if rec["build_seconds"] is not None else "-",
                _deps_cell(rec["deps"]),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def warnings(snap: Snapshot) -> list[str]:
    """Problems worth telling whoever reads the list (never fatal for reading)."""
    found = []
    link = snap.current
    if link.exists and not link.is_symlink:
        found.append("current is a real directory, not a symlink (run `releases doctor`)")
    elif link.is_symlink and (link.release_id is None or snap.get(link.release_id) is None):
        found.append(f"current points at {link.target!r}, which is not a kept release")
    if snap.history.corrupt_lines:
        found.append(
            f"history has {len(snap.history.corrupt_lines)} corrupt line(s), skipped: "
            f"{list(snap.history.corrupt_lines[:5])}"
        )
    damaged = [
        r.id for r in snap.releases if r.status == INCOMPLETE and snap.root.meta(r.id).exists()
    ]
    if damaged:
        found.append(f"meta file unreadable (kept, never pruned automatically): {damaged[:5]}")
    strays = snap.root.strays_in_releases()
    if strays:
        found.append(f"releases/ holds entries that are not releases (ignored): {strays[:5]}")
    return found


def _deps_cell(deps: object) -> str:
    """ "reused from <id>" -> "reused <id>" (the table is wide enough already)."""
    if not isinstance(deps, str):
        return "-"
    return deps.replace("reused from ", "reused ", 1)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
