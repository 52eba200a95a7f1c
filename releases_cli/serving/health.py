"""The health check: poll the app over HTTP until it answers as expected, or give up.

http.client only (imported lazily), so no proxy from the environment applies (the check is
about this server's app, not about whatever proxy the shell has configured) and no redirect is
followed (the status compared is the one the app answered). When the caller names a path only
the new build serves (for Next.js, its `_buildManifest.js` or a chunk no other release has), a
second probe asks for it on the same host: a 200 proves the new build is the one being served,
not an old worker.

`timeout` is one wall-clock deadline over the whole check. Socket timeouts alone bound each
read, not a request: a server that drips a byte every half second would hold a request for
ever. So each request runs on a worker thread the caller waits for until the deadline, then
the connection is shut down under it. Whatever a request raises (a reset, a malformed status
line, a bad URL) is an answer that is not the expected one, never an exception.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING

from releases_cli.config import HealthConfig

if TYPE_CHECKING:
    import http.client

Report = Callable[[str], None]
Sleep = Callable[[float], None]
Monotonic = Callable[[], float]

ATTEMPT_SECONDS = 10.0  # one request never waits longer than this before the next try
BODY_BYTES = 65536  # read at most this much of an answer
USER_AGENT = "releases-health-check"


class _Request:
    """One GET, run on a worker thread; `abort()` shuts its connection from another thread."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.outcome: int | str = "no answer"
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._aborted = False

    def run(self) -> None:
        try:
            self.outcome = self._get()
        except Exception as error:  # any failure is an answer that is not the expected one
            self.outcome = _describe(error)
        finally:
            self._close()

    def _get(self) -> int:
        import http.client

        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {self.url!r}")
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = kind(parts.hostname, parts.port, timeout=self.timeout)
        with self._lock:
            if self._aborted:
                raise TimeoutError("timed out")
            self._conn = conn
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", target, headers={"User-Agent": USER_AGENT, "Connection": "close"})
        response = conn.getresponse()
        response.read(BODY_BYTES)
        return int(response.status)

    def abort(self) -> None:
        """Stop the request: a read blocked on its socket returns at once."""
        with self._lock:
            self._aborted = True
            sock = self._conn.sock if self._conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    def _close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _describe(error: Exception) -> str:
    reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or str(error)
    return f"{type(error).__name__}: {reason}" if reason else type(error).__name__


def probe(url: str, timeout: float) -> int | str:
    """One GET, from connect to the end of the body, over within `timeout` seconds of wall
    clock: the HTTP status, or a short description of why there was none."""
    return _attempt(url, timeout)[0]


def _attempt(url: str, timeout: float) -> tuple[int | str, bool]:
    """probe(), and whether the request finished (False: cut off by the timeout)."""
    if timeout <= 0:
        return "timed out", False
    request = _Request(url, timeout)
    worker = threading.Thread(target=request.run, name="health-probe", daemon=True)
    worker.start()
    try:
        worker.join(timeout)
    except BaseException:  # Ctrl-C while waiting: do not leave the request running
        request.abort()
        raise
    if worker.is_alive():
        request.abort()  # the worker ends by itself; a resolver it is stuck in is left behind
        return f"no complete answer within {timeout:.3g}s", False
    return request.outcome, True


def build_id_url(url: str, proof_path: str | None) -> str | None:
    """The URL of `proof_path` (a path only the new build serves, from the caller) on the health
    URL's scheme and host; None when there is nothing to prove."""
    if proof_path is None:
        return None
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, proof_path, "", ""))


def wait_until(
    url: str,
    expected: int,
    deadline: float,
    interval: float,
    now: Monotonic = time.monotonic,
    sleep: Sleep = time.sleep,
) -> tuple[bool, str]:
    """Poll until `url` answers `expected` or `deadline` passes; (ok, last outcome). The last
    outcome is the last real answer: an attempt the deadline cut short names itself only when
    nothing answered before it."""
    last: int | str = "no attempt made"
    answered = False
    while True:
        if deadline - now() <= 0:
            return False, str(last)
        outcome, finished = _attempt(url, min(deadline - now(), ATTEMPT_SECONDS))
        if outcome == expected:
            return True, str(outcome)
        if finished or not answered:
            last, answered = outcome, answered or finished
        if deadline - now() <= 0:
            return False, str(last)
        sleep(max(0.0, min(interval, deadline - now())))


def check_health(spec: HealthConfig, report: Report, proof_path: str | None = None) -> str | None:
    """None when the release is healthy, else what failed (one line). `proof_path`: a URL path
    only the new build serves (Next.js: nextjs.static_share.proof_url_path), asked for second."""
    deadline = time.monotonic() + spec.timeout
    report(f"health: waiting for {spec.url} to answer {spec.status} (up to {spec.timeout:g}s)")
    ok, last = wait_until(spec.url, spec.status, deadline, spec.interval)
    if not ok:
        return (
            f"health check {spec.url} did not answer {spec.status} within {spec.timeout:g}s "
            f"(last: {last})"
        )
    manifest = build_id_url(spec.url, proof_path) if spec.check_build_id else None
    if manifest is not None:
        report(f"health: confirming the new build is served: {manifest}")
        ok, last = wait_until(manifest, 200, deadline, spec.interval)
        if not ok:
            return (
                f"health check: {manifest} did not answer 200 within {spec.timeout:g}s "
                f"(last: {last}); the new build is not the one being served"
            )
    report("health: ok")
    return None
