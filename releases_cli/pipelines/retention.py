"""Prune as the pipelines run it: core's policy and deletion, with the integrations' clean-up
wired in (a pruned Next.js build's static files leave the releases they were shared into)."""

from __future__ import annotations

from releases_cli.core import prune
from releases_cli.core.clock import Clock, utc_now
from releases_cli.core.layout import DeployRoot
from releases_cli.nextjs import static_share
from releases_cli.serving import servestate


def prune_releases(
    root: DeployRoot,
    keep: int,
    dry_run: bool = False,
    force: bool = False,
    clock: Clock = utc_now,
) -> prune.PruneResult:
    """Apply the retention policy (caller holds the lock; see core.prune.prune_releases). A
    release with a blue-green app (live, warm, starting, draining) is kept, even with --force:
    its app is stopped by reaping first, then a later prune may take it."""
    return prune.prune_releases(
        root,
        keep,
        dry_run,
        force,
        clock,
        before_remove=static_share.forget,
        protected=servestate.serving(root),
    )
