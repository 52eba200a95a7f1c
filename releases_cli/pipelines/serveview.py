"""The blue-green apps `status` and `list` show: each app in the serve state with its role,
port, PM2 status and memory (`pm2 jlist`) and when it stops; nothing in reload mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from releases_cli import config as config_mod
from releases_cli.core.errors import InvalidInput

if TYPE_CHECKING:
    from datetime import datetime

    from releases_cli.core.layout import DeployRoot


class ServeApp(NamedTuple):
    id: str
    role: str  # "live", "warm" or "not routed"
    port: int
    pm2_status: str | None  # None: not in PM2 (or its daemon is not running)
    online: int  # workers online
    memory: int | None  # bytes, all workers
    stops_at: datetime | None
    stops_in_seconds: int | None


def serve_apps(root: DeployRoot, now: datetime) -> list[ServeApp]:
    """Every app in the serve state (empty in reload mode, before `init`, or with a config that
    does not load: what is live is still shown, and `doctor` reports the config)."""
    if not root.config_file.is_file():
        return []
    try:
        cfg = config_mod.load(root)
    except InvalidInput:
        return []
    if not cfg.serve.blue_green:
        return []
    from releases_cli.nextjs import pm2
    from releases_cli.nextjs.servestate import read_state
    from releases_cli.pipelines.bgapps import serving

    sv = serving(root, cfg.serve)
    state = read_state(root)
    # Never start a PM2 daemon just to look (all apps then show as not in PM2).
    asked = bool(state.apps) and pm2.daemon_running()
    running = (pm2.jlist(sv.pm2) or {}) if asked else {}
    apps: list[ServeApp] = []
    for rid, entry in sorted(state.apps.items()):
        role = "live" if rid == state.live else "warm" if entry.routed else "not routed"
        app = running.get(sv.pm2.name(rid))
        left = None
        if entry.until is not None:
            left = max(0, int((entry.until - now).total_seconds()))
        apps.append(
            ServeApp(
                id=rid,
                role=role,
                port=entry.port,
                pm2_status=app.status if app else None,
                online=app.online if app else 0,
                memory=app.memory if app else None,
                stops_at=entry.until,
                stops_in_seconds=left,
            )
        )
    return apps
