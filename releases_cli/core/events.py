"""The event log (.releases/history.jsonl): every event name, its typed payload, and the one
reader and writer of the log.

Each line is one JSON object: the envelope (`v`, `ts`, `event`, `user`, `host`, `pid`) and the
payload's fields. Lines are appended with one fsync'd write. Reading never fails: a line that is
not JSON, not an object, or has a field of the wrong type (a number where a timestamp belongs,
a naive timestamp, an id that is not one) is skipped and reported in one warning naming the
file. An event this version does not know keeps its raw name and no payload, so a newer writer
never breaks an older reader.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import NamedTuple, cast

from releases_cli.core import faults
from releases_cli.core import jsonfields as jf
from releases_cli.core.clock import Clock, host, iso, utc_now, who
from releases_cli.core.compat import StrEnum
from releases_cli.core.fs import append_line
from releases_cli.core.ids import ReleaseId, is_valid_id
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import SCHEMA_VERSION, SourceInfo, read_source
from releases_cli.core.statedir import StateFileError, read_state_file
from releases_cli.core.warn import warn_once


class EventName(StrEnum):
    """Every event the tool writes (the `event` of a history line)."""

    DEPLOY_STARTED = "deploy_started"
    DEPLOY_FINISHED = "deploy_finished"
    DEPLOY_FAILED = "deploy_failed"
    DEPLOY_INTERRUPTED = "deploy_interrupted"  # recovery closed a deploy a crash left open
    STAGE_FINISHED = "stage_finished"  # `releases stage` made a complete release (no switch)
    SWITCH = "switch"  # written after every change of `current`
    SWITCH_FINISHED = "switch_finished"  # `releases switch` made a staged release live
    SWITCH_BACK_UNHEALTHY = "switch_back_unhealthy"  # the switch-back target failed too
    ROLLBACK_UNHEALTHY = "rollback_unhealthy"  # rolled back, but restart/health failed
    CURRENT_REMOVED = "current_removed"  # a first deploy failed its check: nothing is live
    PRUNE = "prune"  # written before deleting (write-ahead)
    PRUNE_INTERRUPTED = "prune_interrupted"  # recovery finished what a crash left in the trash
    FREEZE = "freeze"  # `releases freeze`: deploy, stage and switch refused until unfreeze
    UNFREEZE = "unfreeze"
    FREEZE_OVERRIDDEN = "freeze_overridden"  # a command ran while frozen (--override-freeze)
    PIN = "pin"  # `releases pin`: prune keeps the release
    UNPIN = "unpin"
    APP_STOPPED = "app_stopped"  # blue-green: a release's app was drained and stopped
    CANARY_STARTED = "canary_started"  # a share of visitors goes to a new release
    CANARY_SHARE = "canary_share"  # the canary's next stage: a larger share
    CANARY_PROMOTED = "canary_promoted"  # the canary became live (a switch follows)
    CANARY_ABORTED = "canary_aborted"  # all traffic back on the stable release
    WATCH_FAILED = "watch_failed"  # the watch after a flip failed: switched back


class SwitchReason(StrEnum):
    """Why `current` changed (the `reason` of a switch event)."""

    DEPLOY = "deploy"
    ROLLBACK = "rollback"  # by hand, or automatic (a failed health check switched back)
    RECOVERED = "recovered"  # a crash kept the switch out of the history; recovery wrote it
    ADOPT = "adopt"


# NamedTuples, not dataclasses: as typed and immutable, and a dozen of them cost the start-up of
# `rollback` a fraction of what frozen dataclasses would (one compiles six methods per class;
# bench/README.md, "Figures kept out of the code").


class DeployStarted(NamedTuple):
    id: ReleaseId
    source: SourceInfo


class DeployFinished(NamedTuple):
    id: ReleaseId
    previous: ReleaseId | None
    seconds: float | None = None
    source: SourceInfo | None = None  # complete now (a commit's subject is known after export)
    deps: str | None = None
    message: str | None = None  # -m: why, as the person deploying said it


class DeployFailed(NamedTuple):
    id: ReleaseId
    error: str
    seconds: float | None = None
    message: str | None = None


class DeployInterrupted(NamedTuple):
    id: ReleaseId
    found: str  # what recovery found: complete / failed / incomplete / gone


class StageFinished(NamedTuple):
    id: ReleaseId
    seconds: float | None = None
    message: str | None = None


class Switch(NamedTuple):
    id: ReleaseId
    previous: ReleaseId | None
    reason: str | None  # a SwitchReason (kept as text: a newer writer may have more)
    automatic: bool = False  # a deploy's health check failed and switched back
    cause: str | None = None  # what made it switch back
    seconds: float | None = None
    message: str | None = None  # a rollback's -m


class SwitchFinished(NamedTuple):
    id: ReleaseId
    previous: ReleaseId | None
    seconds: float | None = None
    message: str | None = None


class SwitchBackUnhealthy(NamedTuple):
    id: ReleaseId
    error: str


class RollbackUnhealthy(NamedTuple):
    id: ReleaseId
    previous: ReleaseId | None
    error: str


class CurrentRemoved(NamedTuple):
    id: ReleaseId
    reason: str


class Prune(NamedTuple):
    ids: tuple[ReleaseId, ...]
    reasons: dict[ReleaseId, str]
    keep: int | None = None
    after_full_disk: bool = False  # deleted first: not even this line fitted on the disk


class PruneInterrupted(NamedTuple):
    id: ReleaseId


class Freeze(NamedTuple):
    message: str
    recovered: bool = False  # written by recovery: a crash came between the state and its line


class Unfreeze(NamedTuple):
    frozen_by: str | None = None  # whose freeze this lifted
    freeze_message: str | None = None
    recovered: bool = False


class FreezeOverridden(NamedTuple):
    command: str  # deploy / stage / switch
    frozen_by: str | None
    freeze_message: str
    message: str | None = None  # the overriding command's -m


class Pin(NamedTuple):
    id: ReleaseId
    message: str | None = None
    recovered: bool = False


class Unpin(NamedTuple):
    id: ReleaseId
    recovered: bool = False


class AppStopped(NamedTuple):
    id: ReleaseId
    port: int | None
    reason: str  # "grace over", "not healthy", "orphan", ...


# Per release: {"requests": n, "errors_5xx": n, "p95_ms": ms} over an analysis window.
Figures = dict[ReleaseId, dict[str, float]]


class CanaryStarted(NamedTuple):
    id: ReleaseId
    stable: ReleaseId | None
    share: int | None  # % of visitors


class CanaryShare(NamedTuple):
    id: ReleaseId
    share: int | None


class CanaryPromoted(NamedTuple):
    id: ReleaseId
    automatic: bool  # the analysis passed every stage (False: `releases promote`)
    figures: Figures


class CanaryAborted(NamedTuple):
    id: ReleaseId
    automatic: bool  # the analysis failed it (False: `releases abort`, or recovery)
    reason: str | None
    figures: Figures


class WatchFailed(NamedTuple):
    id: ReleaseId  # the release the watch judged (switched back from)
    reason: str
    figures: Figures


Payload = (
    DeployStarted
    | DeployFinished
    | DeployFailed
    | DeployInterrupted
    | StageFinished
    | Switch
    | SwitchFinished
    | SwitchBackUnhealthy
    | RollbackUnhealthy
    | CurrentRemoved
    | Prune
    | PruneInterrupted
    | Freeze
    | Unfreeze
    | FreezeOverridden
    | Pin
    | Unpin
    | AppStopped
    | CanaryStarted
    | CanaryShare
    | CanaryPromoted
    | CanaryAborted
    | WatchFailed
)
# The event name of each payload type: the one place the two meet.
NAMES: dict[type[Payload], EventName] = {
    DeployStarted: EventName.DEPLOY_STARTED,
    DeployFinished: EventName.DEPLOY_FINISHED,
    DeployFailed: EventName.DEPLOY_FAILED,
    DeployInterrupted: EventName.DEPLOY_INTERRUPTED,
    StageFinished: EventName.STAGE_FINISHED,
    Switch: EventName.SWITCH,
    SwitchFinished: EventName.SWITCH_FINISHED,
    SwitchBackUnhealthy: EventName.SWITCH_BACK_UNHEALTHY,
    RollbackUnhealthy: EventName.ROLLBACK_UNHEALTHY,
    CurrentRemoved: EventName.CURRENT_REMOVED,
    Prune: EventName.PRUNE,
    PruneInterrupted: EventName.PRUNE_INTERRUPTED,
    Freeze: EventName.FREEZE,
    Unfreeze: EventName.UNFREEZE,
    FreezeOverridden: EventName.FREEZE_OVERRIDDEN,
    Pin: EventName.PIN,
    Unpin: EventName.UNPIN,
    AppStopped: EventName.APP_STOPPED,
    CanaryStarted: EventName.CANARY_STARTED,
    CanaryShare: EventName.CANARY_SHARE,
    CanaryPromoted: EventName.CANARY_PROMOTED,
    CanaryAborted: EventName.CANARY_ABORTED,
    WatchFailed: EventName.WATCH_FAILED,
}
PAYLOADS: dict[str, type[Payload]] = {name: kind for kind, name in NAMES.items()}


def name_of(payload: Payload) -> EventName:
    return NAMES[type(payload)]


def read_figures(value: jf.JsonValue) -> Figures:
    """Figures from JSON: release ids to objects of numbers (anything else is Malformed)."""
    if not isinstance(value, dict):
        raise jf.Malformed(f"expected an object of figures, got {str(value)[:40]}")
    return {
        jf.release_id(key): {
            jf.text(name): jf.number(number) for name, number in _object(item).items()
        }
        for key, item in value.items()
    }


def _object(value: jf.JsonValue) -> dict[str, jf.JsonValue]:
    if not isinstance(value, dict):
        raise jf.Malformed(f"expected an object, got {str(value)[:40]}")
    return value


CODEC = jf.Codec(
    jf.BASE_READERS
    | {
        SourceInfo: read_source,
        SourceInfo | None: jf.optional(read_source),
        Figures: read_figures,
        int | None: jf.optional(jf.integer),
    }
)


class Event(NamedTuple):
    """One line of the history."""

    name: str  # an EventName, or the raw name of an event this version does not know
    ts: datetime
    payload: Payload | None  # None for an unknown event
    user: str | None
    host: str | None
    raw: jf.JsonObject  # the line as written

    @property
    def message(self) -> str | None:
        """The -m given to the command that wrote the event, if any."""
        found: str | None = getattr(self.payload, "message", None)
        return found

    @property
    def release_id(self) -> str | None:
        """The release the event is about (None for a prune, which names several, and for a
        freeze, which names none)."""
        if self.payload is not None:
            found: str | None = getattr(self.payload, "id", None)
            return found
        value = self.raw.get("id")
        return value if isinstance(value, str) and is_valid_id(value) else None


class History(NamedTuple):
    events: tuple[Event, ...]
    corrupt_lines: tuple[int, ...] = ()  # 1-based numbers of the lines that were skipped
    problem: str | None = None  # why the file itself was not read (a link, not a file)


def record(root: DeployRoot, payload: Payload, clock: Clock = utc_now) -> Event:
    """Append an event (who, when, where are added) and fsync it before returning."""
    now, user, where = clock(), who(), host()
    line: jf.JsonObject = {
        "v": SCHEMA_VERSION,
        "ts": iso(now),
        "event": str(name_of(payload)),
        "user": user,
        "host": where,
        "pid": os.getpid(),
        **jf.encode(payload),
    }
    text = json.dumps(line, sort_keys=True)
    faults.torn_append(name_of(payload), root.history_file, text)
    append_line(root.history_file, text)
    return Event(name_of(payload), now, payload, user, where, line)


def parse_event(obj: jf.JsonObject) -> Event:
    """The Event of one history line's object; Malformed says what is wrong with it."""
    name, user, where = obj.get("event"), obj.get("user"), obj.get("host")
    if type(name) is not str:
        raise jf.Malformed(f"'event': expected a string, got {name!r:.40}")
    for key, value in (("user", user), ("host", where)):
        if value is not None and type(value) is not str:
            raise jf.Malformed(f"{key!r}: expected a string, got {value!r:.40}")
    try:
        ts = jf.timestamp(obj.get("ts"))
    except jf.Malformed as error:
        raise jf.Malformed(f"'ts': {error}") from None
    kind = PAYLOADS.get(name)
    payload = None if kind is None else CODEC.decode(kind, obj)
    return Event(name, ts, payload, cast(str | None, user), cast(str | None, where), obj)


def read_history(root: DeployRoot) -> History:
    """All events, oldest first. Damaged lines are skipped and warned about (once, naming the
    file and the first few reasons); a history that is a link is not read at all."""
    path = root.history_file
    try:
        data = read_state_file(root.state, path.name)
    except FileNotFoundError:
        return History(())
    except (OSError, StateFileError) as error:
        problem = str(error) if isinstance(error, StateFileError) else f"{path}: {error}"
        warn_once(f"{problem}; history not read")
        return History((), (), problem)
    events: list[Event] = []
    skipped: list[tuple[int, str]] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append(parse_event(jf.loads_object(line)))
        except jf.Malformed as error:
            skipped.append((number, str(error)))
    if skipped:
        reasons = "; ".join(f"line {n}: {why}" for n, why in skipped[:3])
        more = f"; +{len(skipped) - 3} more" if len(skipped) > 3 else ""
        warn_once(f"{path}: skipped {len(skipped)} corrupt line(s) ({reasons}{more})")
    return History(tuple(events), tuple(n for n, _ in skipped))
