"""The canary in blue-green mode: a new release's app takes a share of the visitors (a sticky
bucket cookie nginx sets, see nginx.split_lines) while the live (stable) release takes the
rest; `current` stays on the stable release until the canary is promoted.

Every change goes through bluegreen.apply, so it is crash-safe as a flip is: the serve state
(with its `canary` record) is written before the include changes, and marked applied after
nginx reloaded. A canary needs an owner: the process watching it holds an flock
(serving/owner.py; handed over to a detached watcher as the prune cleaner's flocks are). A
canary nobody watches (its watcher crashed, or the machine rebooted) is aborted by the next
blue-green command's recovery (`releases reap` runs it every minute): traffic goes back to the
stable release, so nothing stays half-split without an owner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from releases_cli.core.clock import Clock
from releases_cli.core.errors import (
    HealthFailed,
    InvalidInput,
    NotFound,
    ReleasesError,
    UnsafeState,
)
from releases_cli.core.layout import DeployRoot
from releases_cli.core.report import Report
from releases_cli.serving import accesslog, bgapps, bluegreen
from releases_cli.serving.bgapps import Serving, ensure_running
from releases_cli.serving.servestate import (
    AppEntry,
    Canary,
    ServeState,
    read_state,
    write_state,
)


def access_log(root: DeployRoot) -> Path:
    """nginx's access log, as the server block `releases nginx` prints names it."""
    return accesslog.log_path(root.path)


def port_map(state: ServeState) -> dict[int, str]:
    """Port -> release id of every app in the state (what the access log names)."""
    return {entry.port: rid for rid, entry in state.apps.items()}


def start(
    sv: Serving,
    release_id: str,
    stages: tuple[tuple[int, float], ...],
    window: dict[str, int | str],
    clock: Clock,
    report: Report,
) -> Canary:
    """Start (or reuse) the release's app, check and warm it up as a flip does, then route
    the first stage's share of the visitors to it. The live release stays live."""
    state = bluegreen.recover(sv, clock, report)
    if state.damaged:
        raise UnsafeState("the serve state is unreadable; no canary was started")
    if state.canary is not None:
        raise InvalidInput(
            f"a canary of {state.canary.id} runs already; `releases promote` or "
            "`releases abort` it first"
        )
    stable = state.live
    if stable is None or stable == release_id:
        raise InvalidInput(
            "a canary needs a stable release to compare with: deploy without --canary first"
        )
    state = ensure_running(sv, state, release_id, clock(), report)
    bluegreen.warm_up(sv, release_id, state.apps[release_id].port, report)
    canary = Canary(release_id, stable, stages[0][0], stages, 0, clock(), window)
    entry = AppEntry(state.apps[release_id].port, None, routed=True)
    bluegreen.apply(sv, replace(state.with_app(release_id, entry), canary=canary), report)
    if sv.serve.url and not sets_cookie(sv.serve.url, f"rl_{sv.nginx.app}"):
        abort(sv, clock, report)
        raise InvalidInput(
            f"{sv.serve.url} does not set the canary's cookie rl_{sv.nginx.app}, so the split "
            "would not be sticky; paste the server block `releases nginx` prints (its "
            "`add_header Set-Cookie` line) and deploy again. No visitor stays on the canary"
        )
    report(f"canary: {canary.share}% of visitors go to {release_id}, the rest to {stable}")
    return canary


def sets_cookie(url: str, name: str) -> bool:
    """Whether nginx at `url` gives a new visitor the bucket cookie `name`, within
    bluegreen.CONFIRM seconds (its old workers answer for a moment after a reload, without
    the split: this also waits for the new ones)."""
    import http.client
    import time
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    deadline = time.monotonic() + bluegreen.CONFIRM
    while time.monotonic() < deadline:
        conn = kind(parts.hostname or "", parts.port, timeout=2)
        try:
            conn.request("HEAD", parts.path or "/")
            cookies = conn.getresponse().headers.get_all("Set-Cookie") or []
            if any(c.startswith(f"{name}=") for c in cookies):
                return True
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.02)
    return False


def advance(sv: Serving, canary: Canary, window: dict[str, int | str], now: datetime) -> Canary:
    """The next stage: its (larger) share routed, its window starting at `window`."""
    state = current(sv.root, canary.id)
    stage = canary.stage + 1
    moved = replace(canary, share=canary.stages[stage][0], stage=stage, stage_started=now)
    moved = replace(moved, window=window)
    bluegreen.apply(sv, replace(state, canary=moved), lambda _: None)
    return moved


def save_window(sv: Serving, canary: Canary, window: dict[str, int | str]) -> None:
    """Record where the stage's window begins (no nginx change)."""
    state = current(sv.root, canary.id)
    write_state(sv.root, replace(state, canary=replace(canary, window=window)))


def current(root: DeployRoot, release_id: str | None = None) -> ServeState:
    """The state, which must have a canary (of `release_id` when given): NotFound otherwise."""
    state = read_state(root)
    if state.canary is None or (release_id is not None and state.canary.id != release_id):
        raise NotFound("no canary runs (it was promoted or aborted)")
    return state


def promote(sv: Serving, clock: Clock, report: Report, switched: Callable[[], None]) -> str:
    """All traffic to the canary: it becomes live (nginx and `current` together, then
    `switched`), the stable release stays warm for serve.grace. Returns its id."""
    state = read_state(sv.root)  # not recover: that would abort a canary whose watcher died
    canary = state.canary
    if canary is None:
        raise NotFound("no canary runs: nothing to promote")
    # As every flip: the target proves itself on its port first (its app may have died).
    problem = bgapps.check_port(sv, canary.id, state.apps[canary.id].port, bgapps.WARM_PROBE)
    if problem is not None:
        raise HealthFailed(
            f"the canary {canary.id} is not healthy on its port ({problem}); nothing was "
            f"promoted: `releases abort` sends all traffic back to {canary.stable}"
        )
    bluegreen.flip(sv, state, canary.id, clock(), report)
    report(f"serve: nginx routes to {canary.id}")
    switched()
    _settle(sv, clock, report)
    return canary.id


def abort(sv: Serving, clock: Clock, report: Report) -> Canary:
    """All traffic back to the stable release at once (it never stopped: no restart); the
    canary's app leaves the include now and is drained and stopped. Returns the canary."""
    state = read_state(sv.root)
    canary = state.canary
    if canary is None:
        raise NotFound("no canary runs: nothing to abort")
    apps = dict(state.apps)
    apps[canary.id] = AppEntry(apps[canary.id].port, clock(), routed=False)
    bluegreen.apply(sv, replace(state, apps=apps, canary=None), report)
    report(f"canary: all traffic is back on {canary.stable}")
    _settle(sv, clock, report)
    return canary


def _settle(sv: Serving, clock: Clock, report: Report) -> None:
    try:
        bluegreen.settle(sv, clock, report)
    except (ReleasesError, OSError) as error:  # traffic moved already: stopping apps can wait
        report(f"warning: could not stop apps past their grace ({error}); `releases reap` retries")
