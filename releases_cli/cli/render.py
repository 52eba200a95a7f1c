"""Turn snapshots and results into tables or versioned JSON. No I/O besides print.

Each `--json` document is a TypedDict below (the history's are in timeline.py): the code that
builds a document is type-checked against its shape, and docs/reference.md documents the same
keys (tests/cli/test_json_shapes.py checks both against real output). Adding a key keeps
JSON_VERSION; removing or retyping one bumps it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from releases_cli.cli.summary import age, duration
from releases_cli.cli.text import clip, shown, table
from releases_cli.core.clock import iso
from releases_cli.core.ids import id_time
from releases_cli.core.meta import SourceInfo, source_location
from releases_cli.core.state import Release, Snapshot, Status
from releases_cli.core.units import human_size

if TYPE_CHECKING:
    from releases_cli.core.freeze import FreezeState
    from releases_cli.pipelines.doctor import DoctorReport

JSON_VERSION = 1  # one version for every --json shape


class ArtifactJson(TypedDict):
    """Where a release made from an artifact (`deploy --artifact`) was built."""

    digest: str  # "sha256:<hex>" of its content, the same on every host
    built_on: str | None
    built_at: str | None


class ReleaseJson(TypedDict):
    """One release, in `list --json` and as `status --json`'s `release`."""

    id: str
    status: str  # current / previous / staged / complete / failed / incomplete
    complete: bool
    path: str
    created_at: str
    age_seconds: int
    size: int | None
    revision: str | None
    subject: str | None
    source: str | None  # the directory, or the repository URL
    ref: str | None  # the branch, tag or commit asked for (git sources)
    deployed_by: str | None
    build_seconds: float | None
    deps: str | None  # "installed" / "reused from <id>" / None (not the preset)
    artifact: ArtifactJson | None  # set when installed from an artifact
    pinned: bool
    pin_reason: str | None  # `releases pin -m`
    message: str | None  # the -m of the deploy or stage that built it
    migrations: str | None  # digest of the [migrations] paths at build time
    in_use_by: list[int]
    error: str | None


class ServeAppJson(TypedDict):
    """One blue-green app, in `list --json` and `status --json` (`serving`: empty in reload
    mode): what `status` prints about it."""

    id: str
    role: str  # live / warm / not routed (a preview, or one starting or draining)
    port: int
    pm2_status: str | None  # PM2's status (online, stopped, errored...); null: not in PM2
    online: int  # instances online
    memory: int | None  # bytes, summed over its instances; null: not in PM2
    stops_at: str | None  # when its grace ends; null for the live app
    stops_in_seconds: int | None


class ListJson(TypedDict):
    version: int
    root: str
    current: str | None
    previous: str | None
    releases: list[ReleaseJson]
    serving: list[ServeAppJson]
    warnings: list[str]


class FreezeJson(TypedDict):
    """`status --json`'s `frozen`: the freeze in force (`releases freeze`)."""

    message: str
    by: str | None
    host: str | None
    since: str | None
    damaged: str | None  # the freeze file could not be read (it still counts as a freeze)


class FiguresJson(TypedDict):
    """One release's figures over the canary's window (nginx's access log)."""

    id: str
    requests: int
    errors_5xx: int
    p95_ms: float


class CanaryJson(TypedDict):
    """`status --json`'s `canary`: the canary running (blue-green; null: none)."""

    id: str
    stable: str  # the live release, taking the rest of the visitors
    share: int  # % of visitors routed to the canary
    stage: int  # 1-based
    stages: int
    seconds_left: int  # in this stage (0: over, waiting for enough requests to pass)
    watched: bool  # a watcher process owns it (false: the next blue-green command aborts it)
    figures: list[FiguresJson]


class StatusJson(TypedDict):
    version: int
    root: str
    current: str | None
    path: str | None
    previous: str | None
    release: ReleaseJson | None
    frozen: FreezeJson | None
    serving: list[ServeAppJson]
    canary: CanaryJson | None
    warnings: list[str]


class SwitchJson(TypedDict):
    """`switch --json` and `rollback --json`: the result of a state change, not a read."""

    version: int
    id: str
    previous: str | None
    seconds: float
    pruned: list[str]


class FindingJson(TypedDict):
    check: str  # layout, permissions, state, current, temp links, disk, pm2, ...
    ok: bool
    message: str
    fix: str  # empty when ok


class DoctorJson(TypedDict):
    version: int
    root: str
    ok: bool
    findings: list[FindingJson]


def release_record(
    snap: Snapshot, release: Release, now: datetime, in_use: dict[str, list[int]]
) -> ReleaseJson:
    """One release in the documented JSON shape (also the source of the table's cells)."""
    meta = release.meta
    source = meta.source if meta else {}
    created = id_time(release.id)
    return {
        "id": release.id,
        "status": snap.display_status(release),
        "complete": release.complete,
        "path": str(release.path),
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "age_seconds": round((now - created).total_seconds()),
        "size": meta.size if meta else None,
        "revision": source.get("revision"),
        "subject": source.get("subject"),
        "source": source_location(source) if meta else None,
        "ref": source.get("ref"),
        "deployed_by": meta.deployed_by if meta else None,
        "build_seconds": meta.build_seconds if meta else None,
        "deps": meta.deps if meta else None,
        "artifact": _artifact(source),
        "pinned": meta.pinned if meta else False,
        "pin_reason": meta.pin_reason if meta else None,
        "message": meta.message if meta else None,
        "migrations": meta.migrations if meta else None,
        "in_use_by": in_use.get(release.id, []),
        "error": meta.error if meta else None,
    }


def _artifact(source: SourceInfo) -> ArtifactJson | None:
    digest = source.get("artifact")
    if digest is None:
        return None
    return {
        "digest": digest,
        "built_on": source.get("built_on"),
        "built_at": source.get("built_at"),
    }


def _dumps(document: object, indent: int | None = 2) -> str:
    return json.dumps(document, indent=indent)


def list_json(
    snap: Snapshot,
    now: datetime,
    in_use: dict[str, list[int]],
    serving: list[ServeAppJson],
    warnings: list[str],
) -> str:
    document: ListJson = {
        "version": JSON_VERSION,
        "root": str(snap.root.path),
        "current": snap.current_id,
        "previous": snap.previous,
        "releases": [release_record(snap, r, now, in_use) for r in reversed(snap.releases)],
        "serving": serving,
        "warnings": warnings,
    }
    return _dumps(document)


def freeze_record(state: FreezeState | None) -> FreezeJson | None:
    if state is None:
        return None
    since = iso(state.since) if state.since else None
    return {
        "message": state.message,
        "by": state.by,
        "host": state.host,
        "since": since,
        "damaged": state.damaged,
    }


def status_json(
    snap: Snapshot,
    record: ReleaseJson | None,
    frozen: FreezeState | None,
    serving: list[ServeAppJson],
    warnings: list[str],
    canary: CanaryJson | None = None,
) -> str:
    live = snap.current_id
    document: StatusJson = {
        "version": JSON_VERSION,
        "root": str(snap.root.path),
        "current": live,
        "path": str(snap.root.release(live)) if live else None,
        "previous": snap.previous,
        "release": record,
        "frozen": freeze_record(frozen),
        "serving": serving,
        "canary": canary,
        "warnings": warnings,
    }
    return _dumps(document)


def switch_json(release_id: str, previous: str | None, seconds: float, pruned: list[str]) -> str:
    """One line, what the fleet playbook reads."""
    document: SwitchJson = {
        "version": JSON_VERSION,
        "id": release_id,
        "previous": previous,
        "seconds": round(seconds, 3),
        "pruned": pruned,
    }
    return _dumps(document, indent=None)


def doctor_json(report: DoctorReport) -> str:
    findings: list[FindingJson] = [
        {"check": f.check, "ok": f.ok, "message": f.message, "fix": f.fix} for f in report.findings
    ]
    document: DoctorJson = {
        "version": JSON_VERSION,
        "root": str(report.root),
        "ok": not report.problems,
        "findings": findings,
    }
    return _dumps(document)


def frozen_text(state: FreezeState) -> str:
    said = shown(state.describe())
    return f"frozen: {said}; deploy, stage and switch are refused (rollback works)"


def status_text(record: ReleaseJson, previous: str | None) -> str:
    """`status` for a person: what is live, from what, since when, and what rollback picks."""
    lines = [f"current: {record['id']}", f"path: {shown(record['path'])}"]
    if record["revision"]:
        subject = f' "{clip(record["subject"], 60)}"' if record["subject"] else ""
        lines.append(f"revision: {shown(record['revision'][:7])}{subject}")
    elif record["source"]:
        lines.append(f"source: {shown(record['source'])}")
    if artifact := record["artifact"]:
        built = shown(" ".join(filter(None, [artifact["built_on"], artifact["built_at"]])))
        digest = shown(artifact["digest"])
        lines.append(f"artifact: {digest}" + (f" (built on {built})" if built else ""))
    # Not humanize: `status` stays as light to start as `rollback` (tests/cli/test_perf_paths.py).
    ago = age(record["age_seconds"])
    who = shown(record["deployed_by"] or "?")
    lines.append(f"deployed: {record['created_at']} ({ago} ago) by {who}")
    if record["message"]:
        lines.append(f"message: {shown(record['message'])}")
    lines.append(f"rollback target: {previous or 'none'}")
    return "\n".join(lines)


def list_table(snap: Snapshot, now: datetime, in_use: dict[str, list[int]]) -> str:
    import humanize  # the table needs it, `list --json` does not

    rows = []
    for release in reversed(snap.releases):
        rec = release_record(snap, release, now, in_use)
        status = rec["status"] + (" (pinned)" if rec["pinned"] else "")
        status += " (in use)" if rec["in_use_by"] and rec["status"] != Status.CURRENT else ""
        status += f": {short_reason(rec['error'])}" if rec["error"] else ""
        revision = rec["revision"][:7] if rec["revision"] else "-"
        if rec["subject"]:
            revision += f' "{clip(rec["subject"], 40)}"'
        rows.append(
            [
                rec["id"],
                status,
                humanize.naturaltime(now - id_time(release.id)),
                human_size(rec["size"]) if rec["size"] is not None else "-",
                revision,
                _source_cell(rec["source"], rec["ref"]),
                rec["deployed_by"] or "-",
                duration(rec["build_seconds"]) if rec["build_seconds"] is not None else "-",
                _deps_cell(rec["deps"], rec["artifact"]),
            ]
        )
    headers = ["ID", "STATUS", "AGE", "SIZE", "REVISION", "SOURCE", "DEPLOYED BY", "BUILD", "DEPS"]
    messages = [_message_cell(r) for r in reversed(snap.releases)]
    if any(messages):  # a column only when there is something to show
        headers.append("MESSAGE")
        rows = [
            [*row, clip(text, 40) if text else "-"]
            for row, text in zip(rows, messages, strict=True)
        ]
    return table(headers, rows)


def _message_cell(release: Release) -> str | None:
    meta = release.meta
    if meta is None:
        return None
    if meta.pinned and meta.pin_reason:
        return f"pinned: {meta.pin_reason}" + (f"; {meta.message}" if meta.message else "")
    return meta.message


def short_reason(error: str) -> str:
    """Why a release failed, short: the first clause of its error ("build command 'npm ci'
    failed with exit code 1"; the rest, where current stands and the log, is in `history`)."""
    return clip(error.split("; ", 1)[0], 60)


def _source_cell(location: str | None, ref: str | None) -> str:
    """The directory, or repo@ref."""
    if location is None:
        return "-"
    return f"{location}@{ref}" if ref else location


def _deps_cell(deps: str | None, artifact: ArtifactJson | None) -> str:
    """ "reused from <id>" -> "reused <id>" (the table is wide enough already); an artifact's
    dependencies came in it: its digest and build host."""
    if artifact is not None:
        return f"artifact {artifact['digest'][7:19]} from {artifact['built_on'] or '?'}"
    return "-" if deps is None else deps.replace("reused from ", "reused ", 1)
