"""`releases diff A B`: what changed between two releases' trees, and between their commits.

Both trees are listed without following links (core/fingerprint.py); files of the same size
are compared by content digest. Dependencies and build caches differ on every build and say
nothing about the code, so they are left out unless asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from releases_cli.core.errors import InvalidInput, NotFound, ReleasesError
from releases_cli.core.events import Switch
from releases_cli.core.fingerprint import entries, file_digest
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import SourceInfo
from releases_cli.core.state import Snapshot, snapshot
from releases_cli.core.tree import Skip

# Left out by default: any directory named like this, and these paths from the release's top.
IGNORED_NAMES = frozenset({"node_modules"})
IGNORED_PATHS = (".next/cache", ".turbo", ".cache")


@dataclass(frozen=True)
class GitLog:
    added: list[str]  # commits in B, not in A (`<sha> <subject>`, newest first)
    dropped: list[str]  # commits in A, not in B (B is older: a rollback would drop them)


@dataclass(frozen=True)
class DiffResult:
    a: str
    b: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    ignored: tuple[str, ...]  # what was left out ((): nothing)
    git: GitLog | None = None
    git_note: str | None = None  # why there is no git log (when one was expected)
    sources: tuple[SourceInfo, SourceInfo] = field(
        default_factory=lambda: (SourceInfo(), SourceInfo())
    )


def _live_before(snap: Snapshot, release_id: str) -> str | None:
    """What was live right before `release_id` last went live (from the history), else (none
    before it, or pruned since) the rollback target. A failed deploy's switch back is skipped:
    it names the failed release, which was never really in service."""
    for event in reversed(snap.history.events):
        payload = event.payload
        if isinstance(payload, Switch) and payload.id == release_id and not payload.automatic:
            before = payload.previous
            if before is not None and snap.get(before) is not None:
                return before
            break
    return snap.previous


def pick(snap: Snapshot, a: str | None, b: str | None) -> tuple[str, str]:
    """The two releases: as given, or the previously live one and the current one."""
    if b is None:
        b = snap.current_id
        if b is None:
            raise NotFound("nothing is live: name two releases (releases diff A B)")
    if a is None:
        a = _live_before(snap, b) if b == snap.current_id else snap.previous
        if a is None:
            raise NotFound(f"no earlier live release to compare {b} with: name one")
    for release_id in (a, b):
        if snap.get(release_id) is None:
            raise NotFound(f"release {release_id} does not exist (see `releases list`)")
    return a, b


def _kept(rel: str) -> bool:
    return not any(rel == p or rel.startswith(p + "/") for p in IGNORED_PATHS)


def _listing(root: DeployRoot, release_id: str, skip: Skip | None) -> dict[str, str]:
    try:
        return entries(root.release(release_id), skip=skip)
    except OSError as error:
        raise InvalidInput(f"cannot list release {release_id}: {error}") from None


def diff(
    root: DeployRoot, a: str | None = None, b: str | None = None, everything: bool = False
) -> DiffResult:
    """Compare release `a` (default: the previous live one) with `b` (default: current)."""
    root.require_initialized()
    snap = snapshot(root)
    a, b = pick(snap, a, b)
    skip = None if everything else (lambda name, _depth: name in IGNORED_NAMES)
    old, new = (_listing(root, release_id, skip) for release_id in (a, b))
    if not everything:
        old = {k: v for k, v in old.items() if _kept(k)}
        new = {k: v for k, v in new.items() if _kept(k)}
    changed = [
        rel
        for rel in sorted(old.keys() & new.keys())
        if old[rel] != new[rel] or (old[rel].startswith("file:") and _differ(root, a, b, rel))
    ]
    ignored = () if everything else (*sorted(IGNORED_NAMES), *IGNORED_PATHS)
    sources = _sources(snap, a), _sources(snap, b)
    git, note = _git_log(root, *sources)
    return DiffResult(
        a,
        b,
        sorted(new.keys() - old.keys()),
        sorted(old.keys() - new.keys()),
        changed,
        ignored,
        git,
        note,
        sources,
    )


def _differ(root: DeployRoot, a: str, b: str, rel: str) -> bool:
    try:
        return file_digest(root.release(a), rel) != file_digest(root.release(b), rel)
    except OSError:
        return True  # replaced or made unreadable while we compared: not the same file


def _sources(snap: Snapshot, release_id: str) -> SourceInfo:
    release = snap.get(release_id)
    return release.meta.source if release and release.meta else SourceInfo()


def _git_log(
    root: DeployRoot, old: SourceInfo, new: SourceInfo
) -> tuple[GitLog | None, str | None]:
    """The commits between the two revisions, from the mirror (gitpython loaded only here)."""
    if old.get("type") != "git" or new.get("type") != "git":
        return None, None
    old_rev, new_rev = old.get("revision"), new.get("revision")
    if not old_rev or not new_rev:
        return None, "a release does not record its commit"
    if old.get("repo") != new.get("repo"):
        return None, "the releases come from different repositories"
    from releases_cli.sources.git.mirror import commits_between
    from releases_cli.sources.git.source import mirror_path

    try:
        added, dropped = commits_between(mirror_path(root), old_rev, new_rev)
    except ReleasesError as error:
        return None, f"no git log: {error.message}"
    return GitLog(added, dropped), None
