"""Retention: a pure policy deciding what to delete (and why), and the safe deletion itself."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple

from releases_cli.core import cleaner, faults
from releases_cli.core.clock import Clock, utc_now
from releases_cli.core.erase import EraseError
from releases_cli.core.errors import UnsafeState
from releases_cli.core.events import Prune, record
from releases_cli.core.fs import fsync_dir
from releases_cli.core.inuse import release_users
from releases_cli.core.layout import DeployRoot
from releases_cli.core.safefs import remove_entry
from releases_cli.core.state import Status, snapshot
from releases_cli.core.statedir import StateFileError, open_capped_log, open_dir, opened_dir

log = logging.getLogger(__name__)


# Called with (root, release id) before a release is taken out; see prune_releases.
BeforeRemove = Callable[[DeployRoot, str], object]


class Candidate(NamedTuple):
    """What the policy needs to know of one release."""

    id: str
    status: str  # complete / failed / incomplete
    protected_because: str | None = None  # current, previous, pinned, in use, being built


class Decision(NamedTuple):
    delete: tuple[tuple[str, str], ...]  # (id, reason), in deletion order
    keep: tuple[tuple[str, str], ...]  # (id, reason)


def plan(candidates: Sequence[Candidate], keep: int) -> Decision:
    """Decide which releases to delete. `candidates` are oldest first.

    - The newest `keep` complete releases stay; protected releases stay too, on top of them
      (an old pinned or in-use release never costs a newer one its place).
    - Failed and incomplete releases never count toward `keep`; unprotected, they go first.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    delete: list[tuple[str, str]] = []
    kept: list[tuple[str, str]] = []
    for c in candidates:
        if c.status != Status.COMPLETE and c.protected_because is None:
            delete.append((c.id, c.status))
    complete = [c for c in candidates if c.status == Status.COMPLETE]
    keep_ids = {c.id for c in complete[-keep:]}
    for c in candidates:
        if c.protected_because:
            kept.append((c.id, c.protected_because))
        elif c.status == Status.COMPLETE and c.id in keep_ids:
            kept.append((c.id, f"within keep={keep}"))
        elif c.status == Status.COMPLETE:
            delete.append((c.id, f"beyond keep={keep}"))
    return Decision(tuple(delete), tuple(kept))


def remove_release(root: DeployRoot, release_id: str) -> cleaner.Held | None:
    """Take a release out: rename it into the trash (instant, atomic), hold the flock of its
    trash entry (see cleaner.py), and drop its meta and build log. Returns what is held (None
    when nothing was taken out).

    The caller deletes the held tree after releasing the lock (cleaner.detach or delete_now):
    removing a 50,000-file node_modules takes seconds, and nothing else must wait for that.
    Never follows a symlink: releases/<id> must be a real directory, the deletion does not
    descend into links inside it, and the rename goes into a descriptor of the trash opened
    without following links (a linked trash would move the release out of the root).
    """
    path = root.release(release_id)
    if path.is_symlink() or not path.is_dir():
        log.warning("not deleting %s: not a real directory", path)
        return None
    entry = f"{release_id}-{os.urandom(4).hex()}"
    with _trash_dir(root) as trash:
        os.rename(path, entry, dst_dir_fd=trash)
        held = cleaner.claim(trash, entry)  # a fresh name: nobody else can hold it
    fsync_dir(root.releases)
    faults.point("mid_prune")
    forget_records(root, release_id)
    return held


def forget_records(root: DeployRoot, release_id: str) -> None:
    """Drop a deleted release's meta file and build log (recovery calls this again for a prune
    a crash cut short). The log goes through a descriptor of logs/ opened without following
    links: a planted logs link is left alone, with a warning."""
    root.meta(release_id).unlink(missing_ok=True)
    try:
        with opened_dir(root.state, "logs") as logs:
            remove_entry(logs, root.log(release_id).name)
    except FileNotFoundError:
        return
    except StateFileError as error:
        log.warning("%s; build log of %s not deleted", error, release_id)


@contextlib.contextmanager
def _trash_dir(root: DeployRoot) -> Iterator[int]:
    """A descriptor of .releases/trash (made if missing). UnsafeState when it is a link or not
    a directory: the lock's layout check refuses that first, this holds against a later swap."""
    try:
        with opened_dir(root.state) as state, contextlib.suppress(FileExistsError):
            os.mkdir("trash", 0o755, dir_fd=state)
        trash = open_dir(root.state, "trash")
    except StateFileError as error:
        raise UnsafeState(f"{error}; refusing to move a release into it") from None
    try:
        yield trash
    finally:
        os.close(trash)


def empty_trash(root: DeployRoot) -> list[str]:
    """Delete whatever is in the trash that no live process holds (what a crash of a prune or
    of a cleaner left there); return the ids of the release directories deleted from there (a
    prune the crash interrupted; anything else there is deleted without a word). Trusts
    nothing: the trash is opened without following links (a linked trash is left alone, with a
    warning), links in it are unlinked, and the deletion never follows one, at any depth.

    Never fails the command that called it: an entry that cannot be deleted (another user's
    files in it, a mount point) is left with a warning, and `releases doctor` reports it."""
    try:
        trash = open_dir(root.state, "trash")
        names = os.listdir(trash)
    except FileNotFoundError:
        return []
    except (StateFileError, OSError) as error:
        log.warning("%s; not emptying it", error)
        return []
    try:
        return [name.rpartition("-")[0] for name in names if _empty_entry(trash, name)]
    finally:
        os.close(trash)


def _empty_entry(trash: int, name: str) -> bool:
    """Delete one trash entry nobody holds; whether it was a directory and is gone now."""
    try:
        held = cleaner.claim(trash, name)
    except OSError:  # a link or a file: unlink the entry itself
        try:
            os.unlink(name, dir_fd=trash)
        except FileNotFoundError:
            pass
        except OSError as error:
            entry = EraseError(error.errno, error.strerror, cleaner.shown(name))
            log.warning("%s", cleaner.not_deleted(entry))
        return False
    if held is None:  # a running cleaner (or prune) is deleting it
        return False
    left = cleaner.delete_held(trash, held)
    if left is not None:
        log.warning("%s", cleaner.not_deleted(left))
    return left is None


class PruneResult(NamedTuple):
    deleted: tuple[tuple[str, str], ...]
    kept: tuple[tuple[str, str], ...]
    dry_run: bool = False
    # The pruned trees, in the trash and held by this process: the caller deletes them once
    # the lock is released (cleaner.detach, or cleaner.delete_now).
    trash: tuple[cleaner.Held, ...] = ()


def delete_pruned(root: DeployRoot, result: PruneResult, detached: bool) -> int | None:
    """Delete the trees a prune took out; call once the lock is released. `detached`: by a
    cleaner in a session of its own (its pid is returned; its output goes to
    .releases/cleaner.log), so the command returns now; else here, before returning."""
    if not detached or not result.trash:
        cleaner.delete_now(root.trash, result.trash)
        return None
    try:
        log_fd: int | None = open_capped_log(root.state, cleaner.LOG_NAME, cleaner.LOG_CAP)
    except (OSError, StateFileError):
        log_fd = None  # no log (a full disk, a link swapped in there): the cleaner runs anyway
    try:
        return cleaner.detach(root.trash, log_fd, result.trash)
    finally:
        if log_fd is not None:
            os.close(log_fd)


def candidates_of(
    root: DeployRoot, force: bool = False, protected: Mapping[str, str] | None = None
) -> list[Candidate]:
    """The policy's input, read from disk: current, rollback target, pins, in-use releases and
    `protected` (id -> why, from an integration) are protected (`force` drops the in-use
    protection only)."""
    snap = snapshot(root)
    in_use = {} if force else release_users(root.releases)
    staged = snap.staged
    result = []
    for release in snap.releases:
        reason = None
        if release.id == snap.current_id:
            reason = "current"
        elif release.id == snap.previous:
            reason = "previous (rollback target)"
        elif release.id in staged:
            reason = "staged, waiting for `releases switch`"
        elif release.meta is not None and release.meta.pinned:
            reason = "pinned"
        elif release.meta_problem is not None:
            # Meta exists but is unusable: damage, not a killed build. Let a human decide.
            reason = "meta file unreadable (check it by hand)"
        elif protected and release.id in protected:
            reason = protected[release.id]
        elif release.id in in_use:
            pids = ", ".join(str(p) for p in in_use[release.id][:5])
            reason = f"in use by pid {pids}"
        result.append(Candidate(release.id, release.status, reason))
    return result


def prune_releases(
    root: DeployRoot,
    keep: int,
    dry_run: bool = False,
    force: bool = False,
    clock: Clock = utc_now,
    before_remove: BeforeRemove | None = None,
    protected: Mapping[str, str] | None = None,
) -> PruneResult:
    """Apply the policy (caller holds the lock); record what was deleted in the history.

    `before_remove(root, id)` runs before each release is taken out (an integration's clean-up
    of what it put into other releases, e.g. shared static files). Deleted releases are left in
    the trash, held (`PruneResult.trash`): delete them once the lock is released.
    """
    decision = plan(candidates_of(root, force, protected), keep)
    for release_id, reason in decision.keep:
        log.debug("keep %s (%s)", release_id, reason)
    for release_id, reason in decision.delete:
        log.debug("%s %s (%s)", "would delete" if dry_run else "delete", release_id, reason)
    if dry_run or not decision.delete:
        return PruneResult(decision.delete, decision.keep, dry_run)
    ids = tuple(i for i, _ in decision.delete)
    facts = Prune(ids, dict(decision.delete), keep)
    # Recorded before deleting (write-ahead): a crash mid-way leaves the history saying what
    # was being pruned, and recovery finishes what reached the trash.
    if not _record_ahead(root, clock, facts):
        _prune_full_disk(root, ids, clock, facts, before_remove)
        return PruneResult(decision.delete, decision.keep, dry_run)
    held: list[cleaner.Held] = []
    try:
        for release_id in ids:
            if before_remove is not None:
                before_remove(root, release_id)
            entry = remove_release(root, release_id)
            held += [entry] if entry is not None else []
    except BaseException:
        cleaner.release(tuple(held))  # recovery deletes them, as after a crash
        raise
    return PruneResult(decision.delete, decision.keep, dry_run, tuple(held))


def _record_ahead(root: DeployRoot, clock: Clock, facts: Prune) -> bool:
    """The write-ahead prune line; False when the disk has no room for it."""
    try:
        record(root, facts, clock)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        log.warning("the disk is full: deleting first, recording the prune after (%s)", error)
        return False
    return True


def _prune_full_disk(
    root: DeployRoot,
    ids: tuple[str, ...],
    clock: Clock,
    facts: Prune,
    before_remove: BeforeRemove | None,
) -> None:
    """Prune when not even the write-ahead line fits. Renames need no space, and the names in
    the trash are the record a crash would leave (recovery finishes them and records
    `prune_interrupted`); so: take the releases out, delete them (under the lock: the space is
    what the rest needs), then the integrations' clean-up and the prune line."""
    held = [remove_release(root, release_id) for release_id in ids]
    cleaner.delete_now(root.trash, tuple(h for h in held if h is not None))
    try:
        for release_id in ids:
            if before_remove is not None:
                before_remove(root, release_id)
        record(root, facts._replace(after_full_disk=True), clock)
    except OSError as error:
        log.warning("pruned %s, but could not finish the bookkeeping: %s", ", ".join(ids), error)
