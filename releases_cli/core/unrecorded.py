"""Recovery's catch-up of freeze and pin changes a crash kept out of the history.

`freeze`, `unfreeze`, `pin` and `unpin` change their state (freeze.json, a meta's `pinned`)
first and append the history line after: the state is what commands obey, and a line must
never claim a change that did not happen. A crash between the two leaves the change in force
but unrecorded; the next state-changing command compares the state with the last line about it
and writes the missing line (`recovered: true`), as it does for a switch.
"""

from __future__ import annotations

import os

from releases_cli.core.clock import Clock
from releases_cli.core.events import Freeze, Pin, Unfreeze, Unpin, record
from releases_cli.core.state import Snapshot
from releases_cli.core.statedir import FREEZE_FILE, StateFileError, read_state_file


def record_unrecorded(snap: Snapshot, clock: Clock) -> list[str]:
    """Write the freeze and pin lines the history misses; a note per line written. Nothing
    when the history itself could not be read (there is nothing to compare with)."""
    if snap.history.problem is not None:
        return []
    return _freeze(snap, clock) + _pins(snap, clock)


def _freeze(snap: Snapshot, clock: Clock) -> list[str]:
    last = None
    for event in reversed(snap.history.events):
        if isinstance(event.payload, Freeze | Unfreeze):
            last = event
            break
    try:
        message = _freeze_message(snap)
    except (OSError, StateFileError, ValueError):
        return []  # damaged: nothing to compare (deploys count it as a freeze, with a warning)
    if message is not None:
        if last is not None and getattr(last.payload, "message", None) == message:
            return []  # the last line is this freeze (an Unfreeze has no message field)
        record(snap.root, Freeze(message, recovered=True), clock)
        return [f"history did not record the freeze {message!r}; recorded it now"]
    if last is not None and isinstance(last.payload, Freeze):
        record(snap.root, Unfreeze(last.user, last.payload.message, recovered=True), clock)
        return ["history did not record that the freeze was lifted; recorded it now"]
    return []


def _freeze_message(snap: Snapshot) -> str | None:
    """The message of the freeze in force, None when there is none; ValueError (Malformed),
    StateFileError or OSError when it cannot be read."""
    if not os.path.lexists(snap.root.state / FREEZE_FILE):
        return None
    # Only now: never frozen is the common case, and the module costs start-up time.
    from releases_cli.core.freeze import FREEZE_LIMIT, parse_freeze

    data = read_state_file(snap.root.state, FREEZE_FILE, limit=FREEZE_LIMIT)
    return parse_freeze(data).message


def _pins(snap: Snapshot, clock: Clock) -> list[str]:
    last: dict[str, Pin | Unpin] = {}
    for event in snap.history.events:
        if isinstance(event.payload, Pin | Unpin):
            last[event.payload.id] = event.payload
    notes = []
    for release in snap.releases:
        meta, recorded = release.meta, last.get(release.id)
        if meta is None:
            continue  # unreadable: nothing to compare (prune keeps it anyway)
        pin_recorded = isinstance(recorded, Pin) and recorded.message == meta.pin_reason
        if meta.pinned and not pin_recorded:
            record(snap.root, Pin(release.id, meta.pin_reason, recovered=True), clock)
            notes.append(f"history did not record that {release.id} was pinned; recorded it now")
        elif not meta.pinned and isinstance(recorded, Pin):
            record(snap.root, Unpin(release.id, recovered=True), clock)
            notes.append(f"history did not record that {release.id} was unpinned; recorded it now")
    return notes
