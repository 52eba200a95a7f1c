"""The event log (.releases/history.jsonl) and per-release facts (.releases/meta/<id>.json).

Both are written crash-safely: history lines are appended with one fsync'd write; meta files
are replaced atomically. Readers tolerate damage: a corrupt line or meta file is reported and
skipped, never fatal.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from releases_cli.core import faults
from releases_cli.core.fs import append_line, atomic_write
from releases_cli.core.ids import is_valid_id
from releases_cli.core.layout import DeployRoot

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SCHEMA_VERSION = 1

# Meta statuses. A release directory with no meta (or meta without one of these) is incomplete.
COMPLETE = "complete"
FAILED = "failed"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def who() -> str:
    """The person deploying: the login name, with the sudo caller when run through sudo."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user and sudo_user != user:
        user = f"{user} (sudo by {sudo_user})"
    return user


def host() -> str:
    return socket.gethostname()


@dataclass(frozen=True)
class Event:
    """One line of the history."""

    event: str
    ts: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def release_id(self) -> str | None:
        value = self.data.get("id")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class History:
    events: tuple[Event, ...]
    corrupt_lines: tuple[int, ...]  # 1-based line numbers that could not be parsed


def record(root: DeployRoot, event: str, clock: Clock = utc_now, **data: Any) -> Event:
    """Append an event (who, when, where are added) and fsync it before returning."""
    now = clock()
    payload = {
        "v": SCHEMA_VERSION,
        "ts": iso(now),
        "event": event,
        "user": who(),
        "host": host(),
        "pid": os.getpid(),
        **data,
    }
    line = json.dumps(payload, sort_keys=True)
    faults.torn_append(event, root.history_file, line)
    append_line(root.history_file, line)
    return Event(event, now, payload)


def read_history(root: DeployRoot) -> History:
    """All events, oldest first; unparseable lines are skipped and reported by number."""
    try:
        raw = root.history_file.read_bytes()
    except FileNotFoundError:
        return History((), ())
    events: list[Event] = []
    corrupt: list[int] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            payload = json.loads(line)
            events.append(Event(str(payload["event"]), parse_iso(payload["ts"]), payload))
        except (ValueError, KeyError, TypeError):
            corrupt.append(number)
    if corrupt:
        log.warning("history: skipped %d corrupt line(s): %s", len(corrupt), corrupt[:10])
    return History(tuple(events), tuple(corrupt))


def write_meta(root: DeployRoot, release_id: str, meta: dict[str, Any]) -> None:
    """Replace a release's meta file atomically (fsync'd file and directory)."""
    body = {"v": SCHEMA_VERSION, "id": release_id, **meta}
    atomic_write(root.meta(release_id), json.dumps(body, indent=2, sort_keys=True).encode())


def read_meta(root: DeployRoot, release_id: str) -> dict[str, Any] | None:
    """A release's meta, or None when missing or corrupt (the release then counts as incomplete)."""
    try:
        payload = json.loads(root.meta(release_id).read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        log.warning("meta file of %s is corrupt; treating the release as incomplete", release_id)
        return None
    if not isinstance(payload, dict) or payload.get("id") != release_id:
        log.warning("meta file of %s is malformed; treating the release as incomplete", release_id)
        return None
    return payload


def meta_ids(root: DeployRoot) -> list[str]:
    """Ids that have a meta file (including pruned releases' leftovers)."""
    try:
        names = os.listdir(root.meta_dir)
    except FileNotFoundError:
        return []
    return [n[:-5] for n in names if n.endswith(".json") and is_valid_id(n[:-5])]
