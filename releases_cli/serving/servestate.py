"""Blue-green serving state: `.releases/serve/state.json`, the truth about which release's app
runs on which port, which one is live, and until when each previous one stays warm.

The nginx include and the PM2 process files are rendered from it, never parsed back. It is
written atomically (temp + fsync + rename) and read as data through a descriptor of
`.releases/` (a planted link is never followed). A damaged file is a warning and an empty
state flagged `damaged`: callers then never stop an app just because the state forgot it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime

from releases_cli.core import statedir
from releases_cli.core.clock import iso, parse_iso
from releases_cli.core.fs import atomic_write, make_dir
from releases_cli.core.ids import is_valid_id
from releases_cli.core.layout import DeployRoot
from releases_cli.core.warn import warn_once

SERVE_DIR = "serve"
STATE_NAME = "state.json"
MAX_BYTES = 1 << 20
VERSION = 1


@dataclass(frozen=True)
class AppEntry:
    """One release's PM2 app."""

    port: int
    until: datetime | None = None  # stop it after this (None: the live one, never)
    routed: bool = True  # nginx routes its deployment id to it (False: starting or draining)

    def expired(self, now: datetime) -> bool:
        return self.until is not None and self.until <= now


@dataclass(frozen=True)
class Canary:
    """A release taking a share of the visitors while `live` (the stable one) takes the rest."""

    id: str
    stable: str
    share: int  # % of visitors (bucket cookie below it)
    stages: tuple[tuple[int, float], ...]  # (share, seconds) each; the last one ends in promotion
    stage: int  # index into stages
    stage_started: datetime
    window: dict[str, int | str]  # the access log cursor where this stage's window began

    def stage_left(self, now: datetime) -> float:
        """Seconds until the current stage is over (0 once it is)."""
        seconds = self.stages[self.stage][1]
        return max(0.0, seconds - (now - self.stage_started).total_seconds())


@dataclass(frozen=True)
class ServeState:
    live: str | None = None  # the release nginx's `<app>_live` upstream points at
    applied: bool = True  # nginx was reloaded with the include rendered from this state
    apps: dict[str, AppEntry] = field(default_factory=dict)
    damaged: bool = False  # the file was unreadable: this is a safe empty value, not the truth
    canary: Canary | None = None  # older readers of the file ignore the record

    def with_app(self, release_id: str, entry: AppEntry) -> ServeState:
        return replace(self, apps={**self.apps, release_id: entry})

    def without(self, release_id: str) -> ServeState:
        """The state without `release_id`'s app (and its canary, which cannot be without it)."""
        canary = None if self.canary is not None and self.canary.id == release_id else self.canary
        apps = {k: v for k, v in self.apps.items() if k != release_id}
        return replace(self, apps=apps, canary=canary)

    def routed(self) -> dict[str, int]:
        """Release id -> port of every app nginx may send requests to."""
        return {rid: e.port for rid, e in sorted(self.apps.items()) if e.routed}


def serve_dir(root: DeployRoot) -> str:
    return str(root.state / SERVE_DIR)


def read_state(root: DeployRoot) -> ServeState:
    """The state on disk; an empty state when there is none; empty and `damaged` (with one
    warning) when it cannot be read as ours."""
    try:
        data = statedir.read_state_file(root.state, SERVE_DIR, STATE_NAME, limit=MAX_BYTES)
    except FileNotFoundError:
        return ServeState()
    except (statedir.StateFileError, OSError) as error:
        warn_once(f"{root.state / SERVE_DIR / STATE_NAME}: {error}; treated as empty")
        return ServeState(damaged=True)
    try:
        return parse_state(data)
    except ValueError as error:
        warn_once(f"{root.state / SERVE_DIR / STATE_NAME} is damaged ({error}); treated as empty")
        return ServeState(damaged=True)


def parse_state(data: bytes) -> ServeState:
    """ServeState from the file's bytes; ValueError saying what is wrong."""
    obj = json.loads(data)
    if not isinstance(obj, dict) or obj.get("v") != VERSION:
        raise ValueError("not a version 1 serve state")
    live, applied, apps = obj.get("live"), obj.get("applied"), obj.get("apps")
    if not (live is None or (isinstance(live, str) and is_valid_id(live))):
        raise ValueError("live is not a release id")
    if not isinstance(applied, bool) or not isinstance(apps, dict):
        raise ValueError("applied or apps has the wrong type")
    entries = {_id(k): _entry(v) for k, v in apps.items()}
    canary = _canary(obj["canary"]) if obj.get("canary") is not None else None
    if canary is not None and (canary.id not in entries or canary.stable != live):
        raise ValueError("the canary has no app, or its stable release is not the live one")
    return ServeState(live, applied, entries, canary=canary)


def _canary(value: object) -> Canary:
    if not isinstance(value, dict):
        raise ValueError("the canary is not an object")
    rid, stable, share, stages = (value.get(k) for k in ("id", "stable", "share", "stages"))
    stage, started, window = value.get("stage"), value.get("stage_started"), value.get("window")
    if not (isinstance(rid, str) and isinstance(stable, str) and is_valid_id(rid)):
        raise ValueError("the canary's id or stable release is not a release id")
    if not isinstance(stages, list) or not stages or not all(_is_stage(s) for s in stages):
        raise ValueError("the canary's stages are not [share, seconds] pairs")
    if not isinstance(share, int) or not isinstance(stage, int) or not 1 <= share <= 99:
        raise ValueError("the canary's share or stage is not a number")
    if not 0 <= stage < len(stages) or not isinstance(started, str):
        raise ValueError("the canary's stage is out of range")
    if not isinstance(window, dict) or not all(
        isinstance(v, str) or _is_int(v) for v in window.values()
    ):
        raise ValueError("the canary's window is not a log cursor")
    pairs = tuple((int(a), float(b)) for a, b in stages)
    return Canary(_id(rid), _id(stable), share, pairs, stage, parse_iso(started), dict(window))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_stage(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and _is_int(value[0])
        and isinstance(value[1], int | float)
        and not isinstance(value[1], bool)
        and 0 <= value[1] <= 7 * 86400
    )


def _id(key: str) -> str:
    if not is_valid_id(key):
        raise ValueError(f"{key[:40]!r} is not a release id")
    return key


def _entry(value: object) -> AppEntry:
    if not isinstance(value, dict):
        raise ValueError("an app is not an object")
    port, until, routed = value.get("port"), value.get("until"), value.get("routed")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError("an app's port is not a port")
    if not isinstance(routed, bool) or not (until is None or isinstance(until, str)):
        raise ValueError("an app's until or routed has the wrong type")
    return AppEntry(port, parse_iso(until) if until is not None else None, routed)


def write_state(root: DeployRoot, state: ServeState) -> None:
    """Replace the state atomically (a link planted at its name is replaced, not followed)."""
    ensure_serve_dir(root)
    apps = {
        rid: {"port": e.port, "until": iso(e.until) if e.until else None, "routed": e.routed}
        for rid, e in sorted(state.apps.items())
    }
    body: dict[str, object] = {
        "v": VERSION,
        "live": state.live,
        "applied": state.applied,
        "apps": apps,
    }
    if state.canary is not None:
        c = state.canary
        body["canary"] = {
            "id": c.id,
            "stable": c.stable,
            "share": c.share,
            "stages": [list(pair) for pair in c.stages],
            "stage": c.stage,
            "stage_started": iso(c.stage_started),
            "window": c.window,
        }
    atomic_write(root.state / SERVE_DIR / STATE_NAME, json.dumps(body, indent=2).encode())


def ensure_serve_dir(root: DeployRoot) -> None:
    """Make `.releases/serve/` (a link or file there is refused by the layout check)."""
    statedir.require_sound_layout(root.state)
    make_dir(root.state / SERVE_DIR, exist_ok=True)


def serving(root: DeployRoot) -> dict[str, str]:
    """Release id -> why prune must keep it, for every release with an app in the state."""
    state = read_state(root)
    found = {}
    for rid, entry in state.apps.items():
        role = "live" if rid == state.live else "warm" if entry.routed else "starting/draining"
        role = "canary" if state.canary is not None and rid == state.canary.id else role
        found[rid] = f"blue-green app on port {entry.port} ({role})"
    return found
