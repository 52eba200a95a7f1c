"""The deploy freeze (.releases/freeze.json): while it exists, deploy, stage and switch are
refused (exit 5) unless overridden (--override-freeze, recorded); rollback stays allowed.

The file is state like the rest of `.releases/`: written atomically (tmp + rename, fsync'd),
read as data (never through a link, at most FREEZE_LIMIT bytes). A file that exists but cannot
be read as a freeze is taken as a freeze (with a warning naming it): someone meant to stop
deploys, and a damaged note must not silently lift that. `releases unfreeze` removes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from releases_cli.core import faults
from releases_cli.core import jsonfields as jf
from releases_cli.core.clock import Clock, host, iso, utc_now, who
from releases_cli.core.errors import ExitCode, ReleasesError
from releases_cli.core.events import FreezeOverridden, record
from releases_cli.core.fs import atomic_write, fsync_dir
from releases_cli.core.layout import DeployRoot
from releases_cli.core.statedir import FREEZE_FILE, StateFileError, read_state_file
from releases_cli.core.warn import warn_once

FREEZE_LIMIT = 64 << 10  # a note and three stamps; anything larger is not ours


class Frozen(ReleasesError):
    """Deploys are frozen (`releases freeze`); exit 5 like a held lock: retry later."""

    exit_code = ExitCode.LOCKED


@dataclass(frozen=True)
class FreezeState:
    message: str
    by: str | None = None
    host: str | None = None
    since: datetime | None = None
    damaged: str | None = None  # why the file was not readable (it still counts as a freeze)

    def describe(self) -> str:
        """`"release party" (frozen by ann@web1 since 2026-11-27T20:00:00.000Z)`."""
        who_ = f"{self.by or '?'}@{self.host or '?'}"
        since = f" since {iso(self.since)}" if self.since else ""
        return f"{self.message!r} (frozen by {who_}{since})"


CODEC = jf.Codec(jf.BASE_READERS)


def parse_freeze(data: bytes) -> FreezeState:
    """The FreezeState in `data`; Malformed says what is wrong with it."""
    state = CODEC.decode(FreezeState, jf.loads_object(data))
    if state.damaged is not None:
        raise jf.Malformed("'damaged' is not a stored field")
    return state


def read_freeze(root: DeployRoot) -> FreezeState | None:
    """The freeze in force, or None. A damaged file is a freeze (warned about once)."""
    path = root.state / FREEZE_FILE
    try:
        data = read_state_file(root.state, FREEZE_FILE, limit=FREEZE_LIMIT)
    except FileNotFoundError:
        return None
    except StateFileError as error:
        problem = str(error)
    except OSError as error:
        problem = f"{path}: {error.strerror}"
    else:
        try:
            return parse_freeze(data)
        except jf.Malformed as error:
            problem = f"{path}: {error}"
    warn_once(f"{problem}; deploys count as frozen until `releases unfreeze`")
    return FreezeState("unreadable freeze file", damaged=problem)


def write_freeze(root: DeployRoot, message: str, clock: Clock = utc_now) -> FreezeState:
    """Freeze (or replace the freeze's note). The caller holds the lock."""
    state = FreezeState(message, who(), host(), clock())
    body = jf.encode(state)
    atomic_write(root.state / FREEZE_FILE, json.dumps(body, indent=2, sort_keys=True).encode())
    return state


def remove_freeze(root: DeployRoot) -> None:
    """Lift the freeze: unlink (a link planted there is removed, never followed)."""
    (root.state / FREEZE_FILE).unlink(missing_ok=True)
    fsync_dir(root.state)


def guard(
    root: DeployRoot, command: str, override: bool, message: str | None, clock: Clock = utc_now
) -> FreezeState | None:
    """Refuse `command` while frozen (Frozen, nothing changed), or with `override` record the
    override and return the freeze it overrode. The caller holds the lock."""
    state = read_freeze(root)
    if state is None:
        return None
    if not override:
        raise Frozen(
            f"deploys are frozen: {state.describe()}; {command} refused "
            "(rollback still works; `releases unfreeze` lifts it, --override-freeze overrides it)"
        )
    record(root, FreezeOverridden(command, state.by, state.message, message), clock)
    faults.point("after_freeze_override")
    return state
