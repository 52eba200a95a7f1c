"""Rollback: point `current` back at a kept, complete release. No copy, no rebuild."""

from __future__ import annotations

import time
from dataclasses import dataclass

from releases_cli import faults, lock
from releases_cli.errors import InvalidInput, NotFound
from releases_cli.history import Clock, record, utc_now
from releases_cli.ids import validate_id
from releases_cli.layout import DeployRoot, require_current_is_link
from releases_cli.recovery import recover
from releases_cli.state import SWITCH, Snapshot, snapshot
from releases_cli.switch import switch_to


@dataclass(frozen=True)
class RollbackResult:
    id: str
    previous: str | None
    seconds: float
    notes: tuple[str, ...]


def choose_target(snap: Snapshot, to: str | None) -> str:
    """The release to roll back to; raises (changing nothing) when there is none or it is bad."""
    if to is None:
        if snap.previous is None:
            raise NotFound("nothing to roll back to: no earlier complete release was ever live")
        return snap.previous
    validate_id(to)
    release = snap.get(to)
    if release is None:
        raise NotFound(f"release {to} does not exist (see `releases list`)")
    if not release.complete:
        raise InvalidInput(
            f"release {to} is {release.status}, not complete; refusing to roll back to it"
        )
    return to


def rollback(
    root: DeployRoot, to: str | None = None, wait: float = 0, clock: Clock = utc_now
) -> RollbackResult:
    """Switch `current` to `to`, or to the release live before the current one."""
    if to is not None:
        validate_id(to)
    if not root.is_initialized():
        raise NotFound(f"{root.path} is not a deploy root (run `releases init`)")
    started = time.monotonic()
    with lock.hold(root, wait, clock):
        notes = recover(root, clock)
        previous = require_current_is_link(root).release_id
        target = choose_target(snapshot(root), to)
        if target == previous:
            raise InvalidInput(f"release {target} is already current")
        switch_to(root, target)
        faults.point("rollback_after_switch")
        seconds = time.monotonic() - started
        record(
            root,
            SWITCH,
            clock,
            id=target,
            previous=previous,
            reason="rollback",
            seconds=round(seconds, 3),
        )
    return RollbackResult(target, previous, seconds, tuple(notes))
