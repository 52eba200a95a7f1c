"""Blue-green serving (`[serve] mode = "blue-green"`): each release runs as its own PM2 app on
its own port; nginx is flipped between them together with `current`.

Going live: start the release's app (or reuse it while warm), health-check its own port (only
that build can answer there), then flip: state.json (the truth), the tested include renamed,
`current` renamed, nginx reloaded. The release live before stays warm for `serve.grace`;
expired warm apps are drained (dropped from the include, reload, wait until nothing is
connected to the port, bounded) and stopped by `settle`, which every blue-green command runs
first, and by `releases reap` for a timer. See docs/blue-green.md.

Crash safety: the state is written before the include and `current` change, and marked
`applied` only after nginx reloaded; `recover` makes state, include, `current` and nginx agree
again (`current` wins: it is what the history and every other command trust).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from releases_cli.core import faults, interrupts
from releases_cli.core.clock import Clock
from releases_cli.core.current import switch_to
from releases_cli.core.errors import NotFound, ReleasesError, SystemFailure
from releases_cli.core.events import AppStopped, CanaryAborted, record
from releases_cli.core.layout import read_current
from releases_cli.core.report import Report
from releases_cli.serving import nginx as ngx
from releases_cli.serving import owner, ports, warmup
from releases_cli.serving import pm2 as pm
from releases_cli.serving.bgapps import (
    Serving,
    ensure_running,
    include_stale,
    include_text,
    revive,
    stop_app,
)
from releases_cli.serving.servestate import (
    AppEntry,
    ServeState,
    ensure_serve_dir,
    read_state,
    write_state,
)
from releases_cli.serving.strategy import mark_failed

CONFIRM = 10.0  # seconds nginx gets to route through its new workers after a reload
CONFIRM_STEADY = 0.1  # ... and how long every answer must name the new live release


# -- the flip ----------------------------------------------------------------------------------


def apply(sv: Serving, state: ServeState, report: Report, switch: str | None = None) -> ServeState:
    """Make nginx (and, given `switch`, `current`) follow `state`: tested include, state
    written (not yet applied), include renamed, `current` switched, nginx reloaded, state
    applied. A rejected include raises InvalidInput with nothing changed."""
    pending = replace(state, applied=False)
    text = include_text(sv, state)
    with interrupts.deferred():  # all of it, or recovery's starting point
        ngx.install(sv.nginx, text, lambda: _written(sv, pending))
        faults.point("serve_after_include")
        if switch is not None:
            switch_to(sv.root, switch)
            faults.point("serve_after_current")
        failed = ngx.reload(sv.nginx)
        if failed is not None:
            raise SystemFailure(
                f"nginx reload failed ({failed}); nginx still serves what it did before; "
                "fix nginx, then run `releases reap` to apply it"
            )
        done = replace(state, applied=True)
        write_state(sv.root, done)
    if sv.serve.url:
        confirm(sv.serve.url, state.live or "none", report)
    return done


def confirm(url: str, live: str, report: Report) -> None:
    """Wait until nginx at `url` answers with X-Releases-Live: `live` on every fresh connection
    for CONFIRM_STEADY seconds (a reload returns once nginx is signalled; for a moment old and
    new workers both accept), up to CONFIRM seconds."""
    deadline = time.monotonic() + CONFIRM
    steady_since: float | None = None
    seen: str | None = None
    while time.monotonic() < deadline:
        seen = _live_header(url)
        now = time.monotonic()
        if seen != live:
            steady_since = None
        elif steady_since is None:
            steady_since = now
        elif now - steady_since >= CONFIRM_STEADY:
            return
        time.sleep(0.01)
    report(f"warning: {url} did not show X-Releases-Live: {live} within {CONFIRM:g}s (saw {seen})")


def _live_header(url: str) -> str | None:
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname or "", parts.port, timeout=2)
    try:
        conn.request("HEAD", parts.path or "/")
        return conn.getresponse().getheader("X-Releases-Live")
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _written(sv: Serving, state: ServeState) -> None:
    write_state(sv.root, state)
    faults.point("serve_after_state")


def flip(sv: Serving, state: ServeState, target: str, now: datetime, report: Report) -> ServeState:
    """Route `target` as the live release (`current` with it); the release live before stays
    warm for serve.grace."""
    apps = dict(state.apps)
    apps[target] = AppEntry(apps[target].port, None, routed=True)
    before = state.live
    if before is not None and before != target and before in apps:
        grace = timedelta(seconds=sv.serve.grace)
        apps[before] = AppEntry(apps[before].port, now + grace, routed=True)
    # An app already past its grace (the one live before, with grace 0) leaves the include in
    # this same change: settle then only drains and stops it, with no second reload.
    for release_id, entry in apps.items():
        if release_id != target and entry.routed and entry.expired(now):
            apps[release_id] = replace(entry, routed=False)
    ended = state.canary.id if state.canary is not None else None
    if ended is not None and ended != target and ended in apps:  # a flip ends any canary
        apps[ended] = AppEntry(apps[ended].port, now, routed=False)
    done = apply(sv, ServeState(target, state.applied, apps), report, switch=target)
    if ended is not None and ended != target:
        why = f"{target} was made live instead (a switch or rollback)"
        record(sv.root, CanaryAborted(ended, False, why, {}), lambda: now)
        report(f"serve: the canary {ended} ended: {why}")
    return done


def go_live(
    sv: Serving, release_id: str, clock: Clock, report: Report, flipped: Callable[[], None]
) -> None:
    """Start (or reuse) `release_id`'s app, check it on its port, flip to it (then `flipped`,
    which records it); then stop what is past its grace (with grace 0, the release live
    before, once drained). Reaping comes after the flip so a rollback to a warm release waits
    for nothing else."""
    state = recover(sv, clock, report)
    if state.damaged:
        state = ServeState()  # rebuilt from here on: the new live app is in it
    state = ensure_running(sv, state, release_id, clock(), report)
    warm_up(sv, release_id, state.apps[release_id].port, report)
    flip(sv, state, release_id, clock(), report)
    report(f"serve: nginx routes to {release_id}")
    flipped()
    try:
        settle(sv, clock, report)
    except (ReleasesError, OSError) as error:  # the flip is done: stopping old apps can wait
        report(f"warning: could not stop apps past their grace ({error}); `releases reap` retries")


# -- recovery and reaping ----------------------------------------------------------------------


def recover(sv: Serving, clock: Clock, report: Report, thorough: bool = False) -> ServeState:
    """Make state, include, nginx and `current` agree after a crash (`current` wins), with
    the apps the state routes running (bring_up)."""
    ensure_serve_dir(sv.root)
    state = read_state(sv.root)
    if state.damaged:
        return state
    live = read_current(sv.root).release_id
    if live is not None and live != state.live and live in state.apps:
        report(f"recovered: nginx routed to {state.live}, `current` is {live}; routing to {live}")
        apps = dict(state.apps)
        apps[live] = AppEntry(apps[live].port, None, routed=True)
        if state.live in apps:  # never went live: it goes at once
            apps[state.live] = AppEntry(apps[state.live].port, clock(), routed=False)
        state = ServeState(live, False, apps)
    if not state.applied:
        report("recovered: applying the serve state to nginx (a change was interrupted)")
        state = apply(sv, state, report)
    if state.canary is not None and not owner.watched(sv.root):
        state = _abandoned(sv, state, clock, report)
    return bring_up(sv, state, clock, report, thorough)


def _abandoned(sv: Serving, state: ServeState, clock: Clock, report: Report) -> ServeState:
    """A canary whose watcher is gone: all traffic back on the stable release (never left
    half-split without an owner); its app is stopped once drained."""
    canary = state.canary
    assert canary is not None
    why = "its watcher is gone (a crash or a reboot)"
    # Marked failed first, as every abort is: a crash then leaves a failed canary.
    mark_failed(sv.root, canary.id, f"canary aborted: {why}", clock)
    apps = dict(state.apps)
    apps[canary.id] = AppEntry(apps[canary.id].port, clock(), routed=False)
    state = apply(sv, replace(state, apps=apps, canary=None), report)
    record(sv.root, CanaryAborted(canary.id, False, why, {}), clock)
    report(f"recovered: the canary {canary.id} was aborted: {why}; all traffic is on {state.live}")
    return state


def bring_up(
    sv: Serving, state: ServeState, clock: Clock, report: Report, thorough: bool
) -> ServeState:
    """The live app and warm apps in their grace running (PM2 loses them at a reboot), and
    nginx given the state again when the include on disk no longer matches it."""
    state = revive(sv, state, clock(), report, thorough)
    if include_stale(sv, state):
        report("serve: the nginx include does not match the serve state; applying it")
        state = apply(sv, state, report)
    return state


def settle(
    sv: Serving, clock: Clock, report: Report, orphans: bool = False, thorough: bool = False
) -> list[str]:
    """Recovery, then drain and stop every app past its grace (and, with `orphans`, our PM2
    apps of releases the state does not know). Returns the ids stopped."""
    state = recover(sv, clock, report, thorough)
    if state.damaged:
        report("warning: the serve state is damaged; no app is stopped until it is fixed")
        return []
    now = clock()
    expired = [r for r, e in state.apps.items() if r != state.live and e.expired(now)]
    stopped = []
    if expired:
        if any(state.apps[r].routed for r in expired):
            apps = {
                r: replace(e, routed=False) if r in expired else e for r, e in state.apps.items()
            }
            state = apply(sv, replace(state, apps=apps), report)
        faults.point("serve_after_drain")
        _drain(sv, [state.apps[r].port for r in expired])
        listed = pm.list_apps(sv.pm2)  # one `pm2 jlist` tells which of them are ours
        for release_id in expired:
            deleted = stop_app(sv, release_id, report, listed)
            port = state.apps[release_id].port
            state = state.without(release_id)  # a foreign app of its name is not ours to track
            write_state(sv.root, state)
            if deleted:
                record(sv.root, AppStopped(release_id, port, "grace over"), clock)
                report(f"serve: stopped {sv.pm2.name(release_id)} (port {port}): grace over")
                stopped.append(release_id)
    if orphans:
        stopped += _stop_orphans(sv, state, clock, report)
    return stopped


def reap(sv: Serving, wait: float, clock: Clock, report: Report) -> list[str]:
    """`releases reap`: settle, orphans included, under the lock; then, the lock released (a
    deploy or rollback never waits for it), one light warm-up round to each app waiting warm."""
    from releases_cli.core.recovery import exclusive

    with exclusive(sv.root, wait, clock, report):
        stopped = settle(sv, clock, report, orphans=True)
    state = read_state(sv.root)
    if not state.damaged:
        _keep_warm(sv, state, report)
    return stopped


def warm_up(sv: Serving, release_id: str, port: int, report: Report) -> None:
    if sv.serve.warmup_requests:
        warmed = warmup.warm_up(port, sv.serve)
        report(f"serve: warmed up {release_id} on port {port}: {warmed.summary()}")


def _keep_warm(sv: Serving, state: ServeState, report: Report) -> None:
    """One light round of the warm-up paths to each app waiting warm (reap runs every minute)."""
    for release_id, entry in state.apps.items():
        if release_id != state.live:
            warmed = warmup.keep_warm(entry.port, sv.serve)
            if warmed.requests:
                report(f"serve: kept {release_id} warm: {warmed.summary()}")


def _drain(sv: Serving, drained: list[int]) -> None:
    """Wait (up to serve.drain_timeout) until nothing is connected to these ports."""
    deadline = time.monotonic() + sv.serve.drain_timeout
    while time.monotonic() < deadline and any(ports.connections(p) for p in drained):
        time.sleep(0.1)


def _stop_orphans(sv: Serving, state: ServeState, clock: Clock, report: Report) -> list[str]:
    running = pm.jlist(sv.pm2)
    if running is None:
        report("warning: could not list PM2 apps (pm2 jlist failed); orphans not checked")
        return []
    stopped = []
    for name in running:  # only apps we started (name and marker): see serving/pm2.py
        release_id = sv.pm2.release_of(name)
        if release_id is not None and release_id not in state.apps:
            report(f"serve: stopped {name}: its release has no app in the serve state")
            pm.delete_ours(sv.pm2, release_id)
            stopped.append(release_id)
    return stopped


# -- preview -----------------------------------------------------------------------------------


def preview(sv: Serving, release_id: str, clock: Clock, report: Report) -> int:
    """Start `release_id`'s app (or reuse it) without routing anything to it; its port. It
    stops after serve.grace unless it goes live before."""
    if not sv.root.release(release_id).is_dir():
        raise NotFound(f"release {release_id} is not on disk")
    settle(sv, clock, report)
    state = read_state(sv.root)
    if release_id == state.live and release_id in state.apps:
        return state.apps[release_id].port  # running (settle revived it); it never expires
    until = clock() + timedelta(seconds=sv.serve.grace)
    state = ensure_running(sv, state, release_id, until, report)
    entry = state.apps[release_id]
    if entry.until is not None and not entry.routed:
        write_state(sv.root, state.with_app(release_id, replace(entry, until=until)))
    return entry.port
