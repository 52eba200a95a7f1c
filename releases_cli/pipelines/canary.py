"""The canary's lifecycle (docs/canary.md): started by `deploy --canary` (stage, then the
strategy's split: `current` stays on the stable release), watched without the lock (a look at
nginx's access log every [analysis] interval), then promoted (the flip a deploy makes: switch
+ deploy_finished + prune) or aborted (traffic back on the stable release at once, the release
marked failed with the figures). `releases promote` and `releases abort` do the same by hand,
from any shell; a watcher that finds its canary gone stops quietly.

The lock is taken only to change state, never while waiting, so other commands never wait for
a watch. Whoever watches holds the watcher flock (serving/owner.py); a canary without one is
aborted by the next blue-green command's recovery.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import NamedTuple

from releases_cli.config import AnalysisConfig, Config
from releases_cli.core import interrupts
from releases_cli.core.clock import Clock, utc_now

__all__ = [
    "Ended",
    "Settings",
    "abort",
    "promote_and_watch",
    "promoted",
    "settings_of",
    "start",
    "utc_now",
    "watch",
]
from releases_cli.core.errors import Aborted, InvalidInput, NotFound
from releases_cli.core.events import (
    CanaryAborted,
    CanaryPromoted,
    CanaryShare,
    CanaryStarted,
    DeployFinished,
    Figures,
    record,
)
from releases_cli.core.layout import DeployRoot, read_current
from releases_cli.core.meta import read_meta
from releases_cli.core.prune import PruneResult
from releases_cli.core.recovery import exclusive
from releases_cli.core.report import Report
from releases_cli.pipelines.finish import clean_up, finish
from releases_cli.pipelines.publish import (
    LiveOptions,
    live_options,
    promote,
    run_on_failure,
    start_canary,
)
from releases_cli.serving import bgcanary, owner, traffic
from releases_cli.serving.servestate import Canary, read_state
from releases_cli.serving.strategy import Activation, Stages, mark_failed

TICK = 0.5  # seconds between looks at the serve state while waiting for the next analysis
# Seconds a watcher waits for the lock to change state: it holds nothing while it waits, and
# a deploy or stage may hold the lock for a whole build.
LOCK_WAIT = 3600.0
HANDOVER = 30.0  # seconds a new canary waits for the last one's watcher to let go
Live = Callable[[str], None]  # the live counts: a redrawn line on a terminal, else a line


def stages_of(configured: tuple[tuple[int, float | None], ...], watch: float) -> Stages:
    """[serve] canary's stages, a stage without a duration lasting [serve] watch."""
    return tuple((share, watch if seconds is None else seconds) for share, seconds in configured)


def check(root: DeployRoot, live: LiveOptions) -> None:
    """Before the build: the mode can split traffic, and no canary runs already."""
    live.strategy.check_canary(root)
    if read_current(root).release_id is None:
        raise InvalidInput(
            "a canary needs a live release to compare it with: deploy without --canary first"
        )
    running = read_state(root).canary
    if running is not None:
        raise InvalidInput(
            f"a canary of {running.id} runs already; `releases promote` or `releases abort` it"
            " first"
        )


def start(
    root: DeployRoot,
    release_id: str,
    previous: str | None,
    stages: Stages,
    live: LiveOptions,
    clock: Clock,
    report: Report,
) -> int:
    """Under the deploy's lock: hold the watcher flock, split, record canary_started. Returns
    the flock's descriptor (the caller watches, or hands it to a detached watcher)."""
    check(root, live)  # again, under the lock: one may have started since the first check
    # No canary runs, so a holder is a watcher whose canary was promoted or aborted by hand,
    # about to notice at its next look and exit.
    fd = owner.take_over(root, HANDOVER)
    if fd is None:
        raise InvalidInput("another process watches a canary here; promote or abort it first")
    try:
        window = traffic.log_end(bgcanary.access_log(root))
        act = Activation(root, release_id, previous, clock, report)
        start_canary(act, live, stages, window)
        record(root, CanaryStarted(release_id, previous, stages[0][0]), clock)
    except BaseException:
        os.close(fd)
        raise
    return fd


def outcome(root: DeployRoot, ended: Ended) -> Ended:
    """A canary promoted or aborted elsewhere: which of the two (an abort raises Aborted)."""
    if ended.outcome == "gone" and read_current(root).release_id != ended.id:
        raise Aborted(
            f"the canary {ended.id} was aborted elsewhere (`releases abort`, or recovery); "
            "traffic is back on the stable release"
        )
    return ended


class Ended(NamedTuple):
    id: str
    outcome: str  # "promoted", "aborted" or "gone" (promoted or aborted elsewhere)
    figures: Figures
    reason: str = ""


def watch(
    root: DeployRoot,
    cfg: Settings,
    release_id: str,
    live_line: Live,
    report: Report,
    clock: Clock = utc_now,
) -> Ended:
    """Watch the canary until it is promoted or aborted (automatically, or by hand elsewhere).
    An automatic abort raises Aborted (exit 12) once traffic is back on the stable release."""
    t = cfg.analysis
    state = read_state(root)
    if state.canary is None or state.canary.id != release_id:
        return Ended(release_id, "gone", {})
    window = traffic.Window(bgcanary.access_log(root), state.canary.window)
    ports = cfg.live.strategy.traffic_ports(root)
    while True:
        canary = _wait(root, release_id, t.interval)
        if canary is None:
            report(f"canary: {release_id} was promoted or aborted elsewhere; watch ends")
            return Ended(release_id, "gone", {})
        try:
            window.look()
        except OSError as error:  # nothing is decided without the log: the next look retries
            report(f"warning: cannot read {window.path}: {error.strerror}; no decision yet")
            continue
        verdict = window.judge(canary.id, canary.stable, ports, t)
        left = canary.stage_left(clock())
        live_line(_line(canary, verdict, left))
        if verdict.decision == "fail":
            try:
                abort(root, cfg, clock, report, True, verdict.reason, verdict.figures)
            except NotFound:  # promoted or aborted by hand meanwhile
                return Ended(release_id, "gone", {})
            raise Aborted(
                f"aborted by analysis: {verdict.reason}; traffic is back on the stable "
                f"release {canary.stable}; {canary.id} is marked failed"
            )
        if verdict.decision == "pass" and left <= 0:
            if canary.stage + 1 == len(canary.stages):
                try:
                    promote_and_watch(root, cfg, clock, report, True, verdict.figures, live_line)
                except NotFound:  # promoted or aborted by hand meanwhile
                    return Ended(release_id, "gone", {})
                return Ended(release_id, "promoted", verdict.figures)
            window = _next_stage(root, cfg, canary, window, clock, report)


def _wait(root: DeployRoot, release_id: str, seconds: float) -> Canary | None:
    """Sleep `seconds`, looking at the serve state every TICK: the canary, or None as soon as
    it is gone (promoted or aborted elsewhere: the watcher then ends promptly)."""
    deadline = time.monotonic() + seconds
    while True:
        canary = read_state(root).canary
        if canary is None or canary.id != release_id:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            return canary
        time.sleep(min(TICK, left))


def _line(canary: Canary, verdict: traffic.Verdict, left: float) -> str:
    counts = traffic.figures_line(verdict.figures, (canary.id, canary.stable))
    stage = f"stage {canary.stage + 1}/{len(canary.stages)}"
    return f"canary {canary.share}% {stage}, {int(left)}s left: {counts}; {verdict.decision}"


def _next_stage(
    root: DeployRoot,
    cfg: Settings,
    canary: Canary,
    window: traffic.Window,
    clock: Clock,
    report: Report,
) -> traffic.Window:
    """The next stage's share, and a new window from the log's end now."""
    fresh = traffic.Window(window.path, window.cursor)
    with exclusive(root, LOCK_WAIT, clock, report):
        if read_state(root).canary != canary:
            return fresh  # changed meanwhile (by hand): the next look sees it
        share = cfg.live.strategy.advance_canary(root, fresh.cursor, clock, report)
        record(root, CanaryShare(canary.id, share), clock)
    report(f"canary: {share}% of visitors go to {canary.id}")
    return fresh


def promoted(
    root: DeployRoot,
    cfg: Settings,
    clock: Clock,
    report: Report,
    automatic: bool,
    figures: Figures,
    wait: float = LOCK_WAIT,
) -> tuple[str, str, PruneResult]:
    """The canary becomes live: the flip, canary_promoted, deploy_finished, prune. Returns
    (canary, stable, pruned)."""
    live = cfg.live
    with exclusive(root, wait, clock, report):
        canary = _running(root)
        act = Activation(root, canary.id, canary.stable, clock, report)
        promote(act, live)
        record(root, CanaryPromoted(canary.id, automatic, figures), clock)
        meta = read_meta(root, canary.id)
        source = meta.source if meta else None
        finished = DeployFinished(canary.id, canary.stable, None, source)
        pruned = finish(root, finished, cfg.keep, clock, report)
    clean_up(root, pruned)
    return canary.id, canary.stable, pruned


def promote_and_watch(
    root: DeployRoot,
    cfg: Settings,
    clock: Clock,
    report: Report,
    automatic: bool,
    figures: Figures,
    live_line: Live,
    wait: float = LOCK_WAIT,
) -> tuple[str, str]:
    """`promoted`, then the watch after that flip ([serve] watch). Returns (canary, stable)."""
    from releases_cli.pipelines import watch

    since = watch.flip_cursor(root)
    promoted_id, stable, _ = promoted(root, cfg, clock, report, automatic, figures, wait)
    if cfg.watch > 0:
        watch.watch(root, cfg, promoted_id, stable, cfg.watch, since, live_line, report, clock)
    return promoted_id, stable


def abort(
    root: DeployRoot,
    cfg: Settings,
    clock: Clock,
    report: Report,
    automatic: bool,
    reason: str,
    figures: Figures,
    wait: float = LOCK_WAIT,
) -> tuple[str, str]:
    """All traffic back on the stable release, the canary marked failed (with the figures),
    canary_aborted, on_failure hooks. Returns (canary, stable)."""
    live = cfg.live
    with exclusive(root, wait, clock, report):
        running = _running(root)
        how = "by analysis" if automatic else "by hand"
        shown = traffic.figures_line(figures, (running.id, running.stable)) if figures else ""
        problem = f"canary aborted {how}: {reason}" + (f" ({shown})" if shown else "")
        # Marked failed first: a crash before the unsplit leaves a failed canary that
        # recovery aborts (its watcher is gone), never a split one that looks fine.
        with interrupts.deferred():  # never marked failed and left split by a Ctrl-C
            mark_failed(root, running.id, problem, clock)
            canary, stable = live.strategy.abort_canary(root, clock, report)
            record(root, CanaryAborted(canary, automatic, reason, figures), clock)
        run_on_failure(Activation(root, canary, stable, clock, report), live, problem)
    return canary, stable


def _running(root: DeployRoot) -> Canary:
    canary = read_state(root).canary
    if canary is None:
        raise NotFound("no canary runs (it was promoted or aborted already)")
    return canary


class Settings(NamedTuple):
    """What watching, promoting and aborting need from the config."""

    live: LiveOptions
    analysis: AnalysisConfig
    keep: int
    watch: float = 0  # seconds of watch after a promotion ([serve] watch)


def settings_of(cfg: Config) -> Settings:
    return Settings(live_options(cfg), cfg.analysis, cfg.keep, cfg.serve.watch)


class View(NamedTuple):
    """What `status` shows about a running canary."""

    canary: Canary
    seconds_left: float
    watched: bool  # a live process holds the watcher flock
    figures: Figures  # over the current stage's window so far (empty: the log not readable)


def view(root: DeployRoot, cfg: Config, clock: Clock = utc_now) -> View | None:
    """The running canary with its live figures (read-only: the log from the stage's window,
    bounded as the watcher's looks are), or None."""
    running = read_state(root).canary
    if running is None:
        return None
    figures: Figures = {}
    try:
        window = traffic.Window(bgcanary.access_log(root), running.window)
        window.look()
        ports = bgcanary.port_map(read_state(root))
        figures = window.judge(running.id, running.stable, ports, cfg.analysis).figures
    except (OSError, ValueError):
        pass  # no figures yet (the log is not one to read)
    return View(running, running.stage_left(clock()), owner.watched(root), figures)
