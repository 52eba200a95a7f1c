"""Prune as the pipelines run it: core's policy and deletion, with the integrations' clean-up
wired in (a pruned Next.js build's static files leave the releases they were shared into)."""

from __future__ import annotations

from functools import partial

from releases_cli.core import prune
from releases_cli.nextjs import static_share

# Apply the retention policy (caller holds the lock); see core.prune.prune_releases.
prune_releases = partial(prune.prune_releases, before_remove=static_share.forget)
