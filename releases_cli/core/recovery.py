"""Clean up what a crash left behind; run under the lock at the start of every state change."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from releases_cli.core import lock, reserve
from releases_cli.core.clock import Clock, utc_now
from releases_cli.core.current import remove_temp_links
from releases_cli.core.errors import Interrupted
from releases_cli.core.events import (
    CanaryStarted,
    DeployFailed,
    DeployFinished,
    DeployInterrupted,
    DeployStarted,
    PruneInterrupted,
    StageFinished,
    Switch,
    SwitchReason,
    record,
)
from releases_cli.core.ids import is_valid_id
from releases_cli.core.layout import DeployRoot, read_current
from releases_cli.core.state import Snapshot, Status, snapshot
from releases_cli.core.statedir import StateFileError, open_dir, write_leftovers
from releases_cli.core.unrecorded import record_unrecorded

# What closes a deploy (a stage that stopped before the switch closes it too; a canary's
# start hands the release to its watcher, which promotes or aborts it).
_CLOSED_DEPLOY = (DeployFinished, DeployFailed, DeployInterrupted, StageFinished, CanaryStarted)


class Recovered(NamedTuple):
    notes: tuple[str, ...]  # one per thing cleaned up (shown to the user)
    snapshot: Snapshot  # the root's state once recovery is done (valid while the lock is held)


@contextmanager
def exclusive(
    root: DeployRoot,
    wait: float,
    clock: Clock,
    report: Callable[[str], None],
    use_reserve: bool = False,
) -> Iterator[Recovered]:
    """Hold the root's lock and first clean up what a crash left (each note reported):
    how every state-changing command starts.

    `use_reserve`: on a full disk, give this command the space kept back in `.releases/reserve`
    (prune and rollback: the commands that must work then). A SIGINT/SIGTERM inside becomes
    `Interrupted`, saying what is live now.
    """
    acquired = False
    try:
        with lock.hold(root, wait, clock):
            acquired = True
            before = read_current(root).release_id
            try:
                if use_reserve:
                    reserve.release_if_low(root)
                recovered = recover(root, clock)
                for note in recovered.notes:
                    report(f"recovered: {note}")
                yield recovered
            except KeyboardInterrupt:
                raise Interrupted(live_now(root, before)) from None
    except KeyboardInterrupt:
        if acquired:
            raise
        raise Interrupted("nothing was changed (it was waiting for the lock)") from None


def live_now(root: DeployRoot, before: str | None) -> str:
    """One line on what `current` is after an interruption, against what it was before."""
    now = read_current(root).release_id
    if now == before:
        return f"current is unchanged (still {before})" if before else "nothing is live"
    if now is None:
        return f"nothing is live now (it was {before})"
    was = f"it was {before}" if before else "nothing was live before"
    return f"current is now {now} ({was})"


def recover(root: DeployRoot, clock: Clock = utc_now) -> Recovered:
    """Remove temp links and trash, close interrupted deploys in the history, and record a
    switch the history missed. Returns a note per thing done, and the state afterwards."""
    notes = [f"removed leftover temp link {name}" for name in remove_temp_links(root)]
    notes += [
        f"removed {p} (a write killed before its rename)"
        for p in write_leftovers(root.state, remove=True)
    ]
    notes += _finish_interrupted_prunes(root, clock)
    snap = snapshot(root)
    recorded = _close_interrupted_deploys(snap, clock) + _record_missed_switch(snap, clock)
    recorded += record_unrecorded(snap, clock)  # freeze and pin lines a crash kept out
    if recorded:  # the history changed: read the state again rather than patch it
        snap = snapshot(root)
    return Recovered(tuple(notes + recorded), snap)


def _finish_interrupted_prunes(root: DeployRoot, clock: Clock) -> list[str]:
    if _trash_is_empty(root):
        return []
    # The deletion machinery loads only when there is something to delete: rollback starts fast.
    from releases_cli.core.prune import empty_trash, forget_records

    notes = []
    for release_id in empty_trash(root):
        # Only a release that left releases/ was being pruned: a name planted in the trash
        # must not cost a kept release its meta.
        if not is_valid_id(release_id) or os.path.lexists(root.release(release_id)):
            continue
        forget_records(root, release_id)  # prune drops meta and log after the rename
        record(root, PruneInterrupted(release_id), clock)
        notes.append(f"finished deleting {release_id} (an interrupted prune)")
    return notes


def _trash_is_empty(root: DeployRoot) -> bool:
    """True when the trash is absent or empty; a linked or unreadable trash is not: empty_trash
    warns about it."""
    try:
        trash = open_dir(root.state, "trash")
    except FileNotFoundError:
        return True
    except (StateFileError, OSError):
        return False
    try:
        return not os.listdir(trash)
    finally:
        os.close(trash)


def _close_interrupted_deploys(snap: Snapshot, clock: Clock) -> list[str]:
    """Close every deploy the history left open, and every incomplete release no closed deploy
    explains (its deploy_started line may have been torn by a power cut)."""
    notes = []
    events = [e.payload for e in snap.history.events]
    closed = {p.id for p in events if isinstance(p, _CLOSED_DEPLOY)}
    started = [p.id for p in events if isinstance(p, DeployStarted)]
    unexplained = [r.id for r in snap.releases if r.status == Status.INCOMPLETE]
    for release_id in dict.fromkeys([*started, *unexplained]):
        if release_id in closed:
            continue
        release = snap.get(release_id)
        status = release.status if release else "gone"
        record(snap.root, DeployInterrupted(release_id, status), clock)
        notes.append(f"deploy of {release_id} was interrupted (release is {status})")
    return notes


def _record_missed_switch(snap: Snapshot, clock: Clock) -> list[str]:
    """A crash between the switch and its history line: record the switch. Only for a complete
    release: a `current` someone pointed at a missing or broken release is not history."""
    live = snap.current_id
    release = snap.get(live) if live is not None else None
    stack = snap.stack
    if live is None or release is None or not release.complete or (stack and stack[-1] == live):
        return []
    previous = stack[-1] if stack else None
    record(snap.root, Switch(live, previous, SwitchReason.RECOVERED), clock)
    return [f"history did not record that {live} is live; recorded it now"]
