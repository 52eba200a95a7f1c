"""Prune as the pipelines run it: core's policy and deletion, with the integrations' clean-up
wired in (a pruned Next.js build's static files leave the releases they were shared into)."""

from __future__ import annotations

from releases_cli.core.clock import Clock, utc_now
from releases_cli.core.layout import DeployRoot
from releases_cli.core.prune import PruneResult
from releases_cli.core.prune import prune_releases as _prune
from releases_cli.nextjs import static_share


def prune_releases(
    root: DeployRoot,
    keep: int,
    dry_run: bool = False,
    force: bool = False,
    clock: Clock = utc_now,
) -> PruneResult:
    """Apply the retention policy (caller holds the lock); see core.prune.prune_releases."""
    return _prune(root, keep, dry_run, force, clock, before_remove=static_share.forget)
