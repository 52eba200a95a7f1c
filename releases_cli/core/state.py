"""A read-only snapshot of a deploy root: releases, their status, what is live, what rollback picks.

Pure policy (`live_stack`, `rollback_target`) is separated from the I/O (`snapshot`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from releases_cli.core.compat import StrEnum
from releases_cli.core.errors import InvalidInput, NotFound
from releases_cli.core.events import (
    Event,
    History,
    StageFinished,
    Switch,
    SwitchReason,
    read_history,
)
from releases_cli.core.ids import sort_key, validate_id
from releases_cli.core.layout import CurrentLink, DeployRoot, read_current
from releases_cli.core.meta import MetaFile, MetaStatus, ReleaseMeta, read_meta_files


class Status(StrEnum):
    """A release's status: what its meta says, and what `list` shows on top of that."""

    COMPLETE = MetaStatus.COMPLETE.value
    FAILED = MetaStatus.FAILED.value
    INCOMPLETE = "incomplete"  # no meta saying complete or failed: killed, or damaged meta
    CURRENT = "current"
    PREVIOUS = "previous"
    STAGED = "staged"  # complete, never live, newer than the live release: waiting for `switch`


def live_stack(events: Iterable[Event]) -> list[str]:
    """The releases that were live, oldest first, as rollbacks see them.

    A deploy (or switch) pushes its release. A rollback to a release already on the stack
    truncates the stack back to it, so rollback after rollback keeps walking back through what
    was live; a rollback to a release never live pushes it.
    """
    stack: list[str] = []
    walks_back = (SwitchReason.ROLLBACK, SwitchReason.RECOVERED)
    for event in events:
        switch = event.payload
        if not isinstance(switch, Switch):
            continue
        target = switch.id
        # A "recovered" switch (one a crash kept out of the history) to a release already on
        # the stack can only have been a rollback, so it walks back the same way.
        if switch.reason in walks_back and target in stack:
            del stack[len(stack) - stack[::-1].index(target) :]
        else:
            stack.append(target)
    return stack


def rollback_target(stack: Sequence[str], current: str | None, complete: set[str]) -> str | None:
    """The release that was live before `current`: the newest stack entry below it that is
    still complete on disk (failed, incomplete and pruned releases are skipped)."""
    entries = list(stack)
    if current is not None and current in entries:
        entries = entries[: len(entries) - entries[::-1].index(current)]
    for candidate in reversed(entries):
        if candidate != current and candidate in complete:
            return candidate
    return None


def awaiting_switch(
    release_ids: Iterable[str], current: str | None, events: Iterable[Event]
) -> set[str]:
    """Complete releases made by `releases stage` after the live one that were never live (a
    fleet deploy between its stage and its switch). Prune keeps them; rollback never picks them
    (not on the stack). A deploy killed before its switch is not one: nobody will switch to it."""
    staged: set[str] = set()
    ever_live: set[str] = set()
    for event in events:
        if isinstance(event.payload, StageFinished):
            staged.add(event.payload.id)
        elif isinstance(event.payload, Switch):
            ever_live.add(event.payload.id)
    return {
        release_id
        for release_id in release_ids
        if release_id in staged
        and release_id not in ever_live
        and (current is None or sort_key(release_id) > sort_key(current))
    }


_OF_META = {MetaStatus.COMPLETE: Status.COMPLETE, MetaStatus.FAILED: Status.FAILED}


class Release(NamedTuple):
    id: str
    path: Path
    meta: ReleaseMeta | None  # None: no usable meta file (the release is incomplete)
    meta_problem: str | None = None  # why an existing meta file was not usable

    @property
    def status(self) -> Status:
        """complete / failed / incomplete, from the meta."""
        return Status.INCOMPLETE if self.meta is None else _OF_META[self.meta.status]

    @property
    def complete(self) -> bool:
        return self.meta is not None and self.meta.complete


# A dataclass: `staged` is computed once per snapshot (a NamedTuple cannot cache it).
@dataclass(frozen=True)
class Snapshot:
    root: DeployRoot
    releases: tuple[Release, ...]  # oldest first
    current: CurrentLink
    stack: tuple[str, ...]
    previous: str | None  # the rollback target without --to
    history: History

    @property
    def current_id(self) -> str | None:
        return self.current.release_id

    def get(self, release_id: str) -> Release | None:
        return next((r for r in self.releases if r.id == release_id), None)

    def target(self, release_id: str, action: str) -> Release:
        """The release `current` may be switched to (by `action`: "switch to", "roll back
        to"); refuses, changing nothing, an unknown, failed, incomplete or already live one."""
        release = self.get(validate_id(release_id))
        if release is None:
            hint = self.root.command("list")
            raise NotFound(f"release {release_id} does not exist (see `{hint}`)")
        if not release.complete:
            raise InvalidInput(
                f"release {release_id} is {release.status}, not complete; refusing to {action} it"
            )
        if release_id == self.current_id:
            raise InvalidInput(f"release {release_id} is already current")
        return release

    def display_status(self, release: Release) -> Status:
        if release.id == self.current_id:
            return Status.CURRENT
        if release.id == self.previous:
            return Status.PREVIOUS
        if release.id in self.staged:
            return Status.STAGED
        return release.status

    @property
    def complete_ids(self) -> set[str]:
        return {r.id for r in self.releases if r.complete}

    @cached_property
    def staged(self) -> set[str]:
        return awaiting_switch(self.complete_ids, self.current_id, self.history.events)


def snapshot(root: DeployRoot, release_ids: Iterable[str] | None = None) -> Snapshot:
    """Read the root's state (never takes the lock; every read tolerates damage)."""
    ids = sorted(
        release_ids if release_ids is not None else root.release_ids_on_disk(), key=sort_key
    )
    metas: dict[str, MetaFile] = read_meta_files(root, ids)
    releases = [Release(i, root.release(i), metas[i].meta, metas[i].problem) for i in ids]
    history = read_history(root)
    stack = live_stack(history.events)
    current = read_current(root)
    complete = {r.id for r in releases if r.complete}
    previous = rollback_target(stack, current.release_id, complete)
    return Snapshot(root, tuple(releases), current, tuple(stack), previous, history)
