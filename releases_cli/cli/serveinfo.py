"""How `status` and `list` show the blue-green apps (read by pipelines/serveview.py). The JSON
records are the source of the text lines, so the two never disagree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from releases_cli.core.clock import iso

if TYPE_CHECKING:
    from releases_cli.cli.render import CanaryJson, ServeAppJson
    from releases_cli.pipelines.serveview import CanaryView, ServeApp


def serve_records(apps: list[ServeApp]) -> list[ServeAppJson]:
    """The apps as `--json` shows them."""
    return [
        {
            "id": app.id,
            "role": app.role,
            "port": app.port,
            "pm2_status": app.pm2_status,
            "online": app.online,
            "memory": app.memory,
            "stops_at": iso(app.stops_at) if app.stops_at else None,
            "stops_in_seconds": app.stops_in_seconds,
        }
        for app in apps
    ]


def serve_lines(records: list[ServeAppJson]) -> list[str]:
    """`serve: <id> <role> on 127.0.0.1:<port>, <memory> in <n> online, stops in 14m58s`."""
    from releases_cli.core.units import human_size

    lines = []
    for r in records:
        if r["pm2_status"] is None:
            memory = "not in PM2"
        else:
            memory = f"{human_size(r['memory'] or 0)} in {r['online']} online"
            if r["pm2_status"] != "online":
                memory += f" (PM2: {r['pm2_status']})"
        left = r["stops_in_seconds"]
        stops = ""
        if left is not None:
            stops = f", stops in {left // 60}m{left % 60:02d}s" if left else ", stops now"
        lines.append(f"serve: {r['id']} {r['role']} on 127.0.0.1:{r['port']}, {memory}{stops}")
    return lines


def canary_record(found: CanaryView | None) -> CanaryJson | None:
    """The running canary (blue-green), with its live figures; None when none runs."""
    if found is None:
        return None
    c = found.canary
    return {
        "id": c.id,
        "stable": c.stable,
        "share": c.share,
        "stage": c.stage + 1,
        "stages": len(c.stages),
        "seconds_left": int(found.seconds_left),
        "watched": found.watched,
        "figures": [
            {
                "id": rid,
                "requests": int(f.get("requests", 0)),
                "errors_5xx": int(f.get("errors_5xx", 0)),
                "p95_ms": float(f.get("p95_ms", 0)),
            }
            for rid, f in sorted(found.figures.items())
        ],
    }


def canary_lines(record: CanaryJson | None) -> list[str]:
    """`canary: <id> 10% of visitors (stage 1/2, 95s left), stable <id>` and its figures."""
    if record is None:
        return []
    r = record
    lines = [
        f"canary: {r['id']} takes {r['share']}% of visitors (stage {r['stage']}/{r['stages']}, "
        f"{r['seconds_left']}s left), stable {r['stable']}"
    ]
    if not r["watched"]:
        lines.append("canary: no watcher owns it: the next blue-green command aborts it")
    lines += [
        f"canary: {f['id']}: {f['requests']} requests, {f['errors_5xx']} 5xx, "
        f"p95 {f['p95_ms']:.0f} ms"
        for f in r["figures"]
    ]
    return lines
