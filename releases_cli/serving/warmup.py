"""Bring a release's app to speed on its own port before nginx routes visitors to it.

An app that has only answered health probes is not warm for visitors: each route's code is
loaded and optimised by the first requests that render it, and in cluster mode every worker
pays that once. A flip to such an app (a rollback to a release that waited warm, a switch to a
staged one) showed seconds of latency until it had served enough traffic. So before the flip
the app gets `serve.warmup_requests` GETs spread over the health path and `serve.warmup_paths`,
`serve.warmup_concurrency` at a time, each on a new connection (so PM2's cluster balancer hands
them to every worker), within `serve.warmup_seconds`; and `releases reap` (run every minute by
the cron line in docs/blue-green.md) sends each app waiting warm one round of the same paths.
A warm-up never fails a flip: the health check decided that already; its figures are reported.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Sequence
from typing import NamedTuple

from releases_cli.config import ServeConfig

USER_AGENT = "releases-warmup"
_READ_LIMIT = 8 * 1024 * 1024  # bytes of one answer read (the rest is dropped with the socket)
_REQUEST_TIMEOUT = 10.0  # seconds, at most: also bounded by what is left of the warm-up


class Warmed(NamedTuple):
    requests: int
    errors: int  # no answer, or a 5xx
    seconds: float

    def summary(self) -> str:
        return f"{self.requests} request(s), {self.errors} error(s) in {self.seconds:.1f}s"


def paths(serve: ServeConfig) -> tuple[str, ...]:
    """The warm-up's paths: the health path first, then serve.warmup_paths (no repeats)."""
    return tuple(dict.fromkeys((serve.health_path, *serve.warmup_paths)))


def warm_up(port: int, serve: ServeConfig) -> Warmed:
    """serve.warmup_requests GETs over `paths(serve)` to 127.0.0.1:`port`, in parallel."""
    return send(port, paths(serve), serve.warmup_requests, serve)


def keep_warm(port: int, serve: ServeConfig) -> Warmed:
    """One light round: each path once per PM2 instance (cluster mode spreads them)."""
    rounds = max(serve.instances, 1) if serve.warmup_requests else 0
    targets = paths(serve)
    return send(port, targets, rounds * len(targets), serve)


def send(port: int, targets: Sequence[str], count: int, serve: ServeConfig) -> Warmed:
    started = time.monotonic()
    deadline = started + serve.warmup_seconds
    lock = threading.Lock()
    tally = {"next": 0, "errors": 0}

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                index = tally["next"]
                if index >= count:
                    return
                tally["next"] = index + 1
            if not _get(port, targets[index % len(targets)], deadline):
                with lock:
                    tally["errors"] += 1

    threads = [
        threading.Thread(target=worker, daemon=True)
        for _ in range(min(serve.warmup_concurrency, count))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0) + _REQUEST_TIMEOUT)
    sent = min(tally["next"], count)
    return Warmed(sent, tally["errors"], time.monotonic() - started)


def _get(port: int, path: str, deadline: float) -> bool:
    """True when `path` answered below 500 (a 404 of a page that needs a login still warmed
    the server); the body is read, up to a bound, as a browser would."""
    timeout = min(max(deadline - time.monotonic(), 0.1), _REQUEST_TIMEOUT)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept": "text/html,*/*"})
        response = conn.getresponse()
        response.read(_READ_LIMIT)
        return response.status < 500
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
