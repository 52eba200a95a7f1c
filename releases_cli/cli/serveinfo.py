"""What `status` and `list` show about blue-green apps: each app in the serve state with its
role, port, PM2 status and memory (`pm2 jlist`) and when it stops; nothing in reload mode.
The JSON records are the source of the text lines, so the two never disagree."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from releases_cli import config as config_mod
from releases_cli.core.clock import iso

if TYPE_CHECKING:
    from releases_cli.cli.render import CanaryJson, ServeAppJson
    from releases_cli.core.layout import DeployRoot


def serve_records(deploy_root: DeployRoot, now: datetime) -> list[ServeAppJson]:
    """Every app in the serve state (empty in reload mode or before `init`)."""
    from releases_cli.core.errors import InvalidInput

    if not deploy_root.config_file.is_file():
        return []
    try:
        cfg = config_mod.load(deploy_root)
    except InvalidInput:
        return []  # what is live is still shown; `doctor` reports the config
    if not cfg.serve.blue_green:
        return []
    from releases_cli.serving import pm2
    from releases_cli.serving.bgapps import serving
    from releases_cli.serving.servestate import read_state

    sv = serving(deploy_root, cfg.serve)
    state = read_state(deploy_root)
    # Never start a PM2 daemon just to look (all apps then show as not in PM2).
    asked = bool(state.apps) and pm2.daemon_running()
    running = (pm2.jlist(sv.pm2) or {}) if asked else {}
    records: list[ServeAppJson] = []
    for rid, entry in sorted(state.apps.items()):
        role = "live" if rid == state.live else "warm" if entry.routed else "not routed"
        role = "canary" if state.canary is not None and state.canary.id == rid else role
        app = running.get(sv.pm2.name(rid))
        left = None
        if entry.until is not None:
            left = max(0, int((entry.until - now).total_seconds()))
        records.append(
            {
                "id": rid,
                "role": role,
                "port": entry.port,
                "pm2_status": app.status if app else None,
                "online": app.online if app else 0,
                "memory": app.memory if app else None,
                "stops_at": iso(entry.until) if entry.until else None,
                "stops_in_seconds": left,
            }
        )
    return records


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


def canary_record(deploy_root: DeployRoot) -> CanaryJson | None:
    """The running canary (blue-green), with its live figures; None when none runs."""
    if not deploy_root.config_file.is_file():
        return None
    from releases_cli.core.errors import InvalidInput
    from releases_cli.pipelines import canary

    try:
        cfg = config_mod.load(deploy_root)
    except InvalidInput:
        return None
    found = canary.view(deploy_root, cfg)
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
