"""The frame of every command that changes what serves (deploy, fleet `stage` and `switch`),
and its last step: `holding` takes the lock (with crash recovery) and refuses the command while
deploys are frozen (unless overridden, which is recorded); `finish` records the command's
finished event and prunes beyond `keep`; `clean_up`, after the lock is released, hands the
pruned trees to the detached cleaner and tops up the disk reserve.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from releases_cli.core import freeze, reserve
from releases_cli.core.clock import Clock
from releases_cli.core.events import Payload, record
from releases_cli.core.layout import DeployRoot
from releases_cli.core.prune import PruneResult, delete_pruned
from releases_cli.core.recovery import Recovered, exclusive
from releases_cli.core.report import Report, Stage, stage
from releases_cli.pipelines.retention import prune_releases


@contextmanager
def holding(
    root: DeployRoot,
    command: str,
    wait: float,
    clock: Clock,
    report: Report,
    override_freeze: bool = False,
    message: str | None = None,
) -> Iterator[Recovered]:
    """The lock for the block (recovery first), and the freeze guard for `command`."""
    with exclusive(root, wait, clock, report) as recovered:
        freeze.guard(root, command, override_freeze, message, clock)
        yield recovered


def finish(
    root: DeployRoot, finished: Payload, keep: int, clock: Clock, report: Report
) -> PruneResult:
    """Record `finished`, then prune beyond `keep` (under the lock; the trees are deleted by
    `clean_up` after it)."""
    record(root, finished, clock)
    with stage(report, Stage.PRUNE, f"keep={keep}") as pruning:
        pruned = prune_releases(root, keep, clock=clock)
        pruning.detail = f"deleted {len(pruned.deleted)}"
    return pruned


def clean_up(root: DeployRoot, pruned: PruneResult) -> None:
    """After the lock: a detached cleaner deletes the pruned trees (see cleaner.py), and the
    reserve is topped up (room for a prune or rollback on a disk that fills up later)."""
    delete_pruned(root, pruned, detached=True)
    reserve.ensure(root)
