"""`releases deploy`: the lifecycle in one hold of the lock: stage (stage.py: get the code,
build it, mark it complete), publish (publish.py: make it serve through the serving strategy)
and finish (finish.py: record it, prune). Fleet's `stage` and `switch` (fleet.py) and `pack`
(pack.py) are built from the same steps.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

from releases_cli.core.clock import Clock, utc_now
from releases_cli.core.events import DeployFinished
from releases_cli.core.layout import DeployRoot, require_current_is_link
from releases_cli.core.meta import SourceInfo, read_meta
from releases_cli.core.prune import PruneResult
from releases_cli.core.report import PlainReporter, Report
from releases_cli.pipelines import canary, watcher
from releases_cli.pipelines.finish import clean_up, finish, holding
from releases_cli.pipelines.publish import publish_new
from releases_cli.pipelines.stage import DeployOptions, Staged, preflight, stage_release
from releases_cli.pipelines.watch import flip_cursor, watch
from releases_cli.serving.traffic import Cursor

__all__ = ["DeployOptions", "DeployResult", "deploy"]


@dataclass(frozen=True)
class DeployResult:
    id: str
    previous: str | None
    seconds: float
    build_seconds: float
    size: int
    source: SourceInfo
    pruned: PruneResult
    unchanged: bool = False  # the revision was already live: nothing was done
    canary: str = ""  # with a canary: "promoted", or "detached" (a watcher finishes it)


def deploy(
    root: DeployRoot,
    options: DeployOptions,
    clock: Clock = utc_now,
    report: Report | None = None,
    live_line: canary.Live | None = None,
) -> DeployResult:
    """Build a new release from `options.source` and make it current (with a canary: route a
    share of the visitors to it, watch, then promote it or abort; `live_line` shows the
    figures while it watches)."""
    report = report or PlainReporter()
    preflight(root, options)
    if options.canary:
        canary.check(root, options.live)
    started = time.monotonic()
    with holding(
        root, "deploy", options.wait, clock, report, options.override_freeze, options.message
    ):
        revision = options.source.prepare(root, report)
        live = None if options.force or revision is None else _live_with(root, revision)
        if live is not None:
            return _unchanged(root, live, time.monotonic() - started)
        staged = stage_release(root, options, clock, report, started)
        if options.canary:
            fd = canary.start(
                root, staged.id, staged.previous, options.canary, options.live, clock, report
            )
        else:
            fd = None
            since = flip_cursor(root)
            publish_new(root, staged.id, options.live, clock, report, started)
            seconds = time.monotonic() - started
            finished = DeployFinished(
                staged.id,
                staged.previous,
                round(seconds, 3),
                staged.source,
                staged.deps,
                options.message,
            )
            pruned = finish(root, finished, options.keep, clock, report)
    if fd is not None:  # the lock is released: the watch never holds it while it waits
        return _canary(root, options, staged, fd, started, report, live_line or report)
    clean_up(root, pruned)
    if options.watch > 0:
        _watch(root, options, staged.id, staged.previous, since, clock, report, live_line)
    return DeployResult(
        staged.id,
        staged.previous,
        seconds,
        staged.build_seconds,
        staged.size,
        staged.source,
        pruned,
    )


def _canary(
    root: DeployRoot,
    options: DeployOptions,
    staged: Staged,
    fd: int,
    started: float,
    report: Report,
    live_line: canary.Live,
) -> DeployResult:
    """After the split (the lock is released by the caller's `with` first: see deploy): hand
    the canary to a detached watcher, or watch it here until it is promoted or aborted."""
    result = DeployResult(
        staged.id,
        staged.previous,
        time.monotonic() - started,
        staged.build_seconds,
        staged.size,
        staged.source,
        PruneResult((), ()),
        canary="detached",
    )
    if options.detach:
        try:
            pid = watcher.detach(root, staged.id, fd, options.watch, options.keep)
        except OSError as error:
            report(f"warning: could not start a detached watcher ({error}); watching here")
        else:
            report(f"canary: watcher pid {pid} finishes the job (log: {watcher.log_path(root)})")
            return result
    settings = canary.Settings(options.live, options.analysis, options.keep, options.watch)
    try:
        ended = canary.outcome(root, canary.watch(root, settings, staged.id, live_line, report))
    finally:
        os.close(fd)
    return replace(result, seconds=time.monotonic() - started, canary=ended.outcome)


def _watch(
    root: DeployRoot,
    options: DeployOptions,
    release_id: str,
    previous: str | None,
    since: Cursor,
    clock: Clock,
    report: Report,
    live_line: canary.Live | None,
) -> None:
    """The watch after the flip, here or (with --detach) by a detached watcher."""
    if options.detach:
        try:
            pid = watcher.detach_watch(root, release_id, previous, options.watch, since)
        except OSError as error:
            report(f"warning: could not start a detached watcher ({error}); watching here")
        else:
            report(f"watch: watcher pid {pid} watches {release_id} ({watcher.log_path(root)})")
            return
    settings = canary.Settings(options.live, options.analysis, options.keep, options.watch)
    line = live_line or report
    watch(root, settings, release_id, previous, options.watch, since, line, report, clock)


def _live_with(root: DeployRoot, revision: str) -> str | None:
    """The current release, if it was deployed from `revision`."""
    live = require_current_is_link(root).release_id
    meta = read_meta(root, live) if live else None
    if meta is not None and meta.source.get("revision") == revision:
        return meta.id
    return None


def _unchanged(root: DeployRoot, live: str, seconds: float) -> DeployResult:
    meta = read_meta(root, live)
    size, source = (meta.size or 0, meta.source) if meta else (0, SourceInfo())
    return DeployResult(live, None, seconds, 0.0, size, source, PruneResult((), ()), unchanged=True)
