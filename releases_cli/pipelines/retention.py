"""Prune as the pipelines run it: core's policy and deletion, with the integrations' clean-up
wired in (a pruned Next.js build's static files leave the releases they were shared into), and
`releases prune` itself: the lock, the policy, then the deletion."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from releases_cli import config as config_mod
from releases_cli.config import Flags
from releases_cli.core import prune, reserve
from releases_cli.core.clock import Clock, utc_now
from releases_cli.core.layout import DeployRoot
from releases_cli.core.recovery import exclusive
from releases_cli.core.report import Report, Stage, stage
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


class Pruned(NamedTuple):
    """What `releases prune` did (or, dry, would do)."""

    result: prune.PruneResult
    dry_run: bool
    seconds: float  # the lock taken, recovery and the prune itself


def prune_command(
    root: DeployRoot,
    keep: int | None,
    dry_run: bool,
    force: bool,
    wait: float,
    report: Report,
    shown: Callable[[Pruned], None],
) -> None:
    """`releases prune`: the policy applied under the lock (keep: the flag, else releases.toml),
    `shown` called once the lock is released, then the trees deleted here, so the command
    returns with the space free, and the disk reserve made again once there is room."""
    root.require_initialized()
    cfg = config_mod.load(root).with_flags(Flags(keep=keep))
    started = time.monotonic()
    label = f"keep={cfg.keep}" + (" (dry run)" if dry_run else "")
    # use_reserve: on a full disk, prune spends the space kept back for it (core/reserve.py).
    with (
        exclusive(root, wait, utc_now, report, use_reserve=not dry_run),
        stage(report, Stage.PRUNE, label),
    ):
        result = prune_releases(root, cfg.keep, dry_run=dry_run, force=force)
    shown(Pruned(result, dry_run, time.monotonic() - started))
    prune.delete_pruned(root, result, detached=False)
    reserve.ensure(root)
