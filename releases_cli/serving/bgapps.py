"""The PM2 apps of blue-green serving: the settings that configure them, their health check on
their own port, starting and stopping one, and `revive`, which brings back the apps the serve
state says run (after a reboot or `pm2 kill`, PM2 has none: the state, not `pm2 save`, is what
survives). See docs/blue-green.md, "After a reboot: releases up".
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from releases_cli.config import ServeConfig
from releases_cli.core import faults
from releases_cli.core.clock import utc_now
from releases_cli.core.errors import HealthFailed
from releases_cli.core.events import CanaryAborted, record
from releases_cli.core.layout import DeployRoot
from releases_cli.core.report import Report
from releases_cli.nextjs import static_share
from releases_cli.serving import nginx as ngx
from releases_cli.serving import pm2 as pm
from releases_cli.serving import ports
from releases_cli.serving.health import build_id_url, wait_until
from releases_cli.serving.servestate import SERVE_DIR, AppEntry, ServeState, write_state
from releases_cli.serving.strategy import mark_failed

POLL = 0.05  # seconds between health probes of a starting app
WARM_PROBE = 5.0  # seconds a warm app gets to prove itself before it counts as cold


@dataclass(frozen=True)
class Serving:
    """One deploy root's blue-green setup: the settings and the tools they configure."""

    root: DeployRoot
    serve: ServeConfig
    nginx: ngx.Nginx
    pm2: pm.Pm2

    def process_file(self, release_id: str) -> Path:
        return self.root.state / SERVE_DIR / f"{release_id}.pm2.json"


def app_name(root: DeployRoot, serve: ServeConfig) -> str:
    """serve.app, else the root's directory name made a valid name (`shop-2` -> `shop_2`)."""
    if serve.app:
        return serve.app
    name = re.sub(r"[^a-z0-9_]", "_", root.path.name.lower())[:40]
    return name if re.match(r"[a-z]", name) else f"app_{name}"[:40]


def serving(root: DeployRoot, serve: ServeConfig) -> Serving:
    app = app_name(root, serve)
    # Relative paths are the deploy root's, never the cwd's (a cron job's is anywhere).
    include = root.path / serve.include if serve.include else root.state / SERVE_DIR / "nginx.conf"
    main = root.path / serve.nginx_config
    nginx = ngx.Nginx(app, include, main, serve.nginx_test, serve.nginx_reload)
    tools = pm.Pm2(
        serve.pm2,
        app,
        serve.instances,
        serve.exec_mode,
        serve.start,
        serve.interpreter,
        serve.env,
        os.path.realpath(root.path),  # one owner however the root is spelled (a symlink, cwd)
    )
    return Serving(root, serve, nginx, tools)


def check_paths(root: DeployRoot, serve: ServeConfig) -> None:
    """InvalidInput when nginx could not include the include (a glob or control character in
    its path, from the deploy root's own path by default)."""
    ngx.include_path(serving(root, serve).nginx)


# -- health ------------------------------------------------------------------------------------


def check_port(sv: Serving, release_id: str, port: int, seconds: float) -> str | None:
    """None when the app on `port` answers serve.health_path with 200 and, for a Next.js
    build, serves the file only this release's build has; else the problem."""
    url = f"http://127.0.0.1:{port}{sv.serve.health_path}"
    deadline = time.monotonic() + seconds
    ok, last = wait_until(url, 200, deadline, POLL)
    if not ok:
        return f"{url} did not answer 200 within {seconds:g}s (last: {last})"
    proof = build_id_url(url, static_share.proof_url_path(sv.root.release(release_id)))
    if proof is not None:
        ok, last = wait_until(proof, 200, deadline, POLL)
        if not ok:
            return f"{proof} did not answer 200 (last: {last}): not {release_id}'s build"
    return None


# -- starting and stopping apps ----------------------------------------------------------------


def ensure_running(
    sv: Serving, state: ServeState, release_id: str, until: datetime, report: Report
) -> ServeState:
    """The state with `release_id`'s app running and healthy on its port: a warm app that
    proves itself is reused; otherwise one is started. Raises HealthFailed (its app deleted,
    nothing routed to it) when it does not become healthy."""
    entry = state.apps.get(release_id)
    if entry is not None:
        problem = check_port(sv, release_id, entry.port, WARM_PROBE)
        if problem is None:
            report(f"serve: {release_id} is warm on port {entry.port}")
            return state
        report(f"serve: {release_id} on port {entry.port} is not healthy ({problem}); restarting")
        _delete(sv, release_id, report)
        state = _drop(sv, state, release_id, f"its app was not healthy: {problem}", report)
    low, high = sv.serve.port_range
    port = ports.free_port(low, high, [e.port for e in state.apps.values()])
    if port is None:
        raise HealthFailed(f"no free port in serve.ports {sv.serve.ports}; nothing was changed")
    # In the state before PM2 knows it, expiring at `until`: a crash before it is live leaves
    # an app the next command reaps, never one nobody knows about.
    state = state.with_app(release_id, AppEntry(port, until, routed=False))
    write_state(sv.root, state)
    started = time.monotonic()
    report(f"serve: starting {sv.pm2.name(release_id)} on 127.0.0.1:{port}")
    problem = _start(sv, release_id, port, "serve_after_start")
    if problem is not None:
        _delete(sv, release_id, report)
        write_state(sv.root, state.without(release_id))
        raise HealthFailed(f"the app of {release_id} on port {port} is not healthy: {problem}")
    report(f"serve: {release_id} healthy on port {port} after {time.monotonic() - started:.1f}s")
    return state


def _start(sv: Serving, release_id: str, port: int, fault: str) -> str | None:
    """Start the release's app on `port` and wait for its health check there; the problem, if
    any (the caller deletes the app). `fault`: the fault point between the two."""
    release = sv.root.release(release_id)
    problem = pm.start(sv.pm2, release_id, release, port, sv.process_file(release_id))
    faults.point(fault)
    if problem is None:
        problem = check_port(sv, release_id, port, sv.serve.start_timeout)
    return problem


def stop_app(sv: Serving, release_id: str, report: Report, listed: pm.Listed | None = None) -> bool:
    """Delete the release's app and its process file; False when an app of its name is not
    ours (left running, and said so)."""
    deleted = _delete(sv, release_id, report, listed)
    sv.process_file(release_id).unlink(missing_ok=True)
    return deleted


def _delete(sv: Serving, release_id: str, report: Report, listed: pm.Listed | None = None) -> bool:
    """Delete the release's PM2 app if it is ours; say so (False) when one of its name is not."""
    left_alone = pm.delete(sv.pm2, release_id, listed)
    if left_alone is not None:
        report(f"warning: {left_alone}")
    return left_alone is None


def _restart(sv: Serving, state: ServeState, release_id: str, report: Report) -> ServeState:
    """Start `release_id`'s app again on its recorded port, or on another free one when
    something else holds that port now (recorded before the start: the include is then
    re-rendered from it even if this is killed half-way). HealthFailed (app deleted) when it
    does not answer; the state, possibly with the new port, otherwise."""
    if not _delete(sv, release_id, report):  # a stopped or errored leftover of ours
        raise HealthFailed(f"an app named {sv.pm2.name(release_id)} that is not ours runs in PM2")
    entry = state.apps[release_id]
    if not ports.bindable(entry.port):
        low, high = sv.serve.port_range
        found = ports.free_port(low, high, [e.port for e in state.apps.values()])
        if found is None:
            raise HealthFailed(f"no free port in serve.ports {sv.serve.ports} for {release_id}")
        state = state.with_app(release_id, replace(entry, port=found))
        write_state(sv.root, state)
    port = state.apps[release_id].port
    release = sv.root.release(release_id)
    problem = None if release.is_dir() else f"{release} is not on disk"
    if problem is None:
        problem = _start(sv, release_id, port, "serve_after_revive")
    if problem is not None:
        _delete(sv, release_id, report)
        raise HealthFailed(f"the app of {release_id} did not start on port {port}: {problem}")
    return state


def revive(
    sv: Serving, state: ServeState, now: datetime, report: Report, thorough: bool = False
) -> ServeState:
    """The state with every app it routes running again: the live app and warm apps within
    their grace are started when PM2 does not run them (same port when it is free); an app
    that is not routed (a preview, a start a crash cut short) and not running is forgotten.
    A warm app that does not start is dropped; the live one raises HealthFailed. Returns the
    state unchanged when PM2 cannot be asked (nothing is started on a guess).

    Unless `thorough` (`releases up`), PM2 is asked only when a routed app's port refuses a
    connection: a deploy or rollback then pays a connect per app, not a `pm2 jlist`."""
    needed = [e.port for r, e in state.apps.items() if r == state.live or _in_grace(e, now)]
    if not thorough and all(ports.accepts(port) for port in needed):
        return state
    running = pm.jlist(sv.pm2)
    if running is None:
        report("warning: could not list PM2 apps (pm2 jlist failed); no app was started")
        return state
    live_first = sorted(state.apps.items(), key=lambda item: (item[0] != state.live, item[0]))
    for release_id, entry in live_first:
        app = running.get(sv.pm2.name(release_id))
        if app is not None and app.online > 0:
            continue
        if release_id != state.live and not _in_grace(entry, now):
            if not entry.routed:
                state = state.without(release_id)
                write_state(sv.root, state)
            continue  # an expired routed app is settle's: drained, then stopped
        role = "live" if release_id == state.live else "warm"
        report(f"serve: {role} {release_id} is not running in PM2; starting it")
        try:
            state = _restart(sv, state, release_id, report)
        except HealthFailed as error:
            if release_id == state.live:
                raise HealthFailed(f"{error.message}; nginx cannot serve the live one") from None
            report(f"warning: {error.message}; no longer routed to it")
            why = f"its app did not start again: {error.message}"
            state = _drop(sv, state, release_id, why, report)
        else:
            report(f"serve: {release_id} running again on port {state.apps[release_id].port}")
    return state


def _drop(sv: Serving, state: ServeState, release_id: str, why: str, report: Report) -> ServeState:
    """The state without `release_id`'s app, written. A canary cannot run without its app, so
    one dropped with it is aborted: marked failed first (a crash then leaves a failed release,
    never a canary that looks fine), then the state, then canary_aborted."""
    canary = state.canary is not None and state.canary.id == release_id
    if canary:
        mark_failed(sv.root, release_id, f"canary aborted: {why}", utc_now)
    state = state.without(release_id)
    write_state(sv.root, state)
    if canary:
        record(sv.root, CanaryAborted(release_id, False, why, {}), utc_now)
        report(f"serve: the canary {release_id} was aborted: {why}")
    return state


def _in_grace(entry: AppEntry, now: datetime) -> bool:
    """A warm app: routed and its grace not over."""
    return entry.routed and not entry.expired(now)


def include_stale(sv: Serving, state: ServeState) -> bool:
    """True when the include on disk is not what `state` renders (a port moved, an app was
    dropped, the file is missing): nginx must be given the state again."""
    from releases_cli.core import safefs

    text = include_text(sv, state)
    try:
        found = safefs.read_file(sv.nginx.include.parent, sv.nginx.include.name, 1 << 20)
    except OSError:
        return True
    return found != text.encode()


def include_text(sv: Serving, state: ServeState) -> str:
    """The include `state` renders (with the canary's split while one runs)."""
    canary = (state.canary.id, state.canary.share) if state.canary is not None else None
    return ngx.render_include(sv.nginx.app, state.live, state.routed(), canary)
