"""The watch after a flip ([serve] watch, `--watch`; docs/canary.md): for that long after a
release went live (deploy, switch, rollback, a canary's promotion), the strategy's probe looks
every [analysis] interval (blue-green: nginx's access log against the previous release's
figures; reload mode: PM2 restarts, the health URL, [hooks] check). A failed look switches back
to the previous release at once (`watch_failed`, an automatic `switch`, the release marked
failed) and raises Aborted (exit 12). The lock is taken only to switch back; a `current`
moved by someone else ends the watch quietly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from releases_cli.core.clock import Clock
from releases_cli.core.errors import Aborted
from releases_cli.core.events import Switch, SwitchReason, WatchFailed, record
from releases_cli.core.layout import DeployRoot, read_current
from releases_cli.core.recovery import exclusive
from releases_cli.core.report import Report
from releases_cli.pipelines.canary import LOCK_WAIT, Settings
from releases_cli.pipelines.publish import run_point
from releases_cli.serving import bgcanary, traffic
from releases_cli.serving.strategy import Activation, mark_failed

Live = Callable[[str], None]


class Watching(NamedTuple):
    """What a command that flips needs to watch afterwards ([serve] watch in `settings`)."""

    settings: Settings
    live_line: Live


def flip_cursor(root: DeployRoot) -> traffic.Cursor:
    """Where the access log ends now: the watch's window starts there (taken before a flip)."""
    return traffic.log_end(bgcanary.access_log(root))


def watch(
    root: DeployRoot,
    settings: Settings,
    release_id: str,
    previous: str | None,
    seconds: float,
    since: traffic.Cursor,
    live_line: Live,
    report: Report,
    clock: Clock,
) -> None:
    """Watch `release_id` for `seconds` after its flip; Aborted once switched back."""
    act = Activation(root, release_id, previous, clock, report)
    try:
        probe = settings.live.strategy.watch_probe(act, settings.analysis, since)
    except OSError as error:  # the release is live already: a watch it cannot do only warns
        report(f"warning: no watch of {release_id}: {error.strerror or error}")
        return
    report(f"watch: {release_id} for {seconds:g}s")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(settings.analysis.interval, left))
        if read_current(root).release_id != release_id:
            report(f"watch: `current` is no longer {release_id}; the watch ends")
            return
        try:
            verdict = probe.look()
        except OSError as error:  # the access log unreadable: no decision on this look
            report(f"warning: watch: {error.strerror or error}; no decision yet")
            continue
        left = max(0.0, deadline - time.monotonic())
        shown = traffic.figures_line(verdict.figures, (release_id, previous or ""))
        live_line(f"watch {release_id}, {int(left)}s left: {shown or verdict.reason}")
        if verdict.decision == "fail":
            back = switch_back(act, settings, verdict)
            raise Aborted(f"watch failed: {verdict.reason}; {back}")
    report(f"watch: {release_id} passed {seconds:g}s of watch")


def switch_back(act: Activation, settings: Settings, verdict: traffic.Verdict) -> str:
    """Under the lock: watch_failed, the release marked failed, the automatic switch back to
    the previous release (after_rollback hooks). What is live now, as a clause."""
    root, release_id, previous = act.root, act.release_id, act.previous
    with exclusive(root, LOCK_WAIT, act.clock, act.report):
        if read_current(root).release_id != release_id:
            return f"`current` had moved on already ({read_current(root).release_id})"
        record(root, WatchFailed(release_id, verdict.reason, verdict.figures), act.clock)
        mark_failed(root, release_id, f"watch failed: {verdict.reason}", act.clock)
        if previous is None:
            return f"nothing to switch back to: {release_id} stays live, marked failed"
        back = Activation(root, previous, release_id, act.clock, act.report)
        cause = f"watch: {verdict.reason}"

        def switched() -> None:
            record(
                root,
                Switch(previous, release_id, SwitchReason.ROLLBACK, automatic=True, cause=cause),
                act.clock,
            )

        settings.live.strategy.roll_back(back, switched)
        run_point(back, settings.live, "after_rollback")
    return f"switched back to {previous}; {release_id} is marked failed"
