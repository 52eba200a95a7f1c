"""Clean up what a crash left behind; run under the lock at the start of every state change."""

from __future__ import annotations

from releases_cli.history import Clock, record, utc_now
from releases_cli.layout import DeployRoot, read_current
from releases_cli.prune import empty_trash
from releases_cli.state import SWITCH, live_stack, snapshot
from releases_cli.switch import remove_temp_links

_OPEN_DEPLOY = "deploy_started"
_CLOSED_DEPLOY = frozenset({"deploy_finished", "deploy_failed", "deploy_interrupted"})


def recover(root: DeployRoot, clock: Clock = utc_now) -> list[str]:
    """Remove temp links and trash, close interrupted deploys in the history, and record a
    switch the history missed. Returns one note per thing done (shown to the user)."""
    notes = [f"removed leftover temp link {name}" for name in remove_temp_links(root)]
    empty_trash(root)
    snap = snapshot(root)
    closed = {e.release_id for e in snap.history.events if e.event in _CLOSED_DEPLOY}
    for event in snap.history.events:
        release_id = event.release_id
        if event.event == _OPEN_DEPLOY and release_id and release_id not in closed:
            release = snap.get(release_id)
            status = release.status if release else "gone"
            record(root, "deploy_interrupted", clock, id=release_id, found=status)
            notes.append(f"deploy of {release_id} was interrupted (release is {status})")
    live = read_current(root).release_id
    stack = live_stack(snap.history.events)
    if live is not None and (not stack or stack[-1] != live):
        record(
            root, SWITCH, clock, id=live, previous=stack[-1] if stack else None, reason="recovered"
        )
        notes.append(f"history did not record that {live} is live; recorded it now")
    return notes
