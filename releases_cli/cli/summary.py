"""The one line every state change ends with, fit to paste into a chat.

Pure functions of the pipelines' result values, e.g.
`deployed 20261126T101500Z (a1b2c3d "Fix cart") in 42s; previous 20261126T093000Z; pruned 2`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from releases_cli.cli.text import clip

if TYPE_CHECKING:
    from releases_cli.core.layout import DeployRoot

# A source as the pipelines describe it (core.meta.SourceInfo, or any mapping with its keys).
Source = Mapping[str, object] | None

_SUBJECT_WIDTH = 51
_IDS_SHOWN = 3


def duration(seconds: float) -> str:
    """The one duration formatter (summaries, `list`'s BUILD, `history`'s TOOK): short and
    human: 180ms, 4.2s, 42s, 3m05s."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def age(seconds: float) -> str:
    """Coarse and short, for "how long ago": 40s, 12m, 5h, 3d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(int(seconds), 0)}s"


def revision(source: Source) -> str:
    """` (a1b2c3d "Fix cart")` for a source that knows its commit, else empty."""
    if not source:
        return ""
    rev = source.get("revision")
    if not isinstance(rev, str) or not rev:
        return ""
    subject = source.get("subject")
    if isinstance(subject, str) and subject:
        return f' ({rev[:7]} "{clip(subject, _SUBJECT_WIDTH)}")'
    return f" ({rev[:7]})"


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_IDS_SHOWN])
    more = len(ids) - _IDS_SHOWN
    return f"{shown}, +{more} more" if more > 0 else shown


def deployed(
    release_id: str,
    source: Source,
    seconds: float,
    previous: str | None,
    pruned: Sequence[str],
) -> str:
    return (
        f"deployed {release_id}{revision(source)} in {duration(seconds)}; "
        f"previous {previous or 'none'}; pruned {len(pruned)}"
    )


def staged(
    root: DeployRoot, release_id: str, source: Source, seconds: float, current: str | None
) -> str:
    return (
        f"staged {release_id}{revision(source)} in {duration(seconds)}; not live yet "
        f"(current {current or 'none'}); `{root.command(f'switch {release_id}')}` makes it live"
    )


def switched(
    verb: str,
    release_id: str,
    source: Source,
    seconds: float,
    previous: str | None,
) -> str:
    """`rolled back to X (...) in 12ms; previous Y` (verb: "rolled back to", "switched to")."""
    return (
        f"{verb} {release_id}{revision(source)} in {duration(seconds)}; "
        f"previous {previous or 'none'}"
    )


def pruned(deleted: Sequence[str], kept: int, dry_run: bool, seconds: float) -> str:
    if dry_run:
        head = f"would prune {len(deleted)}" + (f" ({_ids(deleted)})" if deleted else "")
        return f"{head}; would keep {kept} (dry run, nothing deleted)"
    head = f"pruned {len(deleted)}" + (f" ({_ids(deleted)})" if deleted else "")
    return f"{head} in {duration(seconds)}; kept {kept}"


def canary(release_id: str, outcome: str, previous: str | None) -> str:
    """The deploy's line once its canary was started (detached) or promoted."""
    if outcome == "detached":
        return (
            f"canary {release_id} runs beside {previous or 'none'}; a detached watcher promotes"
            " or aborts it (`releases status` shows it)"
        )
    return f"deployed {release_id} through a canary: {outcome} (previous: {previous or 'none'})"
