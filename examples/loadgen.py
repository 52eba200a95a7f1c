"""Constant-rate HTTP load that records the outcome of every single request.

Why not autocannon or wrk: autocannon 9 does not count a request whose connection the server
closes mid-flight, so it undercounts exactly the failures a deploy causes. This client records,
for each request, its status or the connection error or the timeout, on keep-alive connections
(what a proxy pool or a browser does) and on fresh connections (what a new visitor does).

Lanes run in threads, each on a fixed schedule (no coordinated omission: a slow answer does not
lower the rate of the others). Lanes:
  api/page (keep-alive and fresh)   GET /api/version and GET /
  browse                            a page view as a browser does it: the HTML, then every
                                    /_next/static file it names, then the chunks those name
                                    (the lazily loaded one included), on one keep-alive connection
The `x-app-version` response header says which build answered.

`retry_stale=True` makes the client behave like a browser (and curl, urllib3) in one case: a
request sent on a *reused* keep-alive connection that the server closed before any byte of an
answer is retried once on a new connection. nginx closes idle client connections when it
reloads, so without it every reload shows up as a few `closed` failures no visitor sees. Such a
request is counted as `retried` (reported separately); a retry that fails again is a failure,
and a fresh connection is never retried.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

# HTML names "/_next/static/chunks/a.js"; Turbopack's chunks name the chunks they load on
# demand as "static/chunks/b.js" (relative to /_next/).
ASSET_REF = re.compile(r"""(?:/?_next/|(?<=["']))(static/[\w./~-]+?\.(?:js|css))""")
PAGES = ("/", "/lazy")
ActionFn = Callable[["Connection", str, str, int], None]


@dataclass(frozen=True)
class Outcome:
    """One request: what was asked, in which phase, and what came back."""

    at: float
    phase: str
    kind: str  # "page", "api" or "asset"
    path: str
    fresh: bool
    status: int | None  # None: no HTTP answer at all
    error: str | None  # "timeout", "reset", "refused", "closed" or an exception name
    version: str | None
    retried: bool = False  # sent again after a reused connection closed before answering

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Connection:
    """An HTTP/1.1 client connection that reconnects after an error (or per request)."""

    def __init__(
        self, host: str, port: int, timeout: float, fresh: bool, retry_stale: bool = False
    ) -> None:
        self.host, self.port, self.timeout, self.fresh = host, port, timeout, fresh
        self.retry_stale = retry_stale
        self.retried = False  # the last get() was sent twice (see the module docstring)
        self._conn: http.client.HTTPConnection | None = None

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        """Status, version header and body; raises OSError/HTTPException on failure."""
        reused = self._conn is not None and not self.fresh
        self.retried = False
        try:
            return self._get(path, headers)
        except _Stale:
            if not (self.retry_stale and reused):
                raise
        self.retried = True
        return self._get(path, headers)

    def _get(self, path: str, headers: dict[str, str] | None) -> tuple[int, str, bytes]:
        if self._conn is None or self.fresh:
            self.close()
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            try:
                self._conn.request("GET", path, headers=headers or {})
                response = self._conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                raise _Stale(*e.args) from e  # closed before any byte of an answer
            body = response.read()
        except BaseException:
            self.close()
            raise
        if self.fresh or response.will_close:
            self.close()
        return response.status, response.getheader("x-app-version") or "", body

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Stale(http.client.RemoteDisconnected):
    """The connection closed before any byte of an answer came back."""


def classify(error: BaseException) -> str:
    """A short, stable name for a failed request's cause."""
    if isinstance(error, _Stale):
        error = error.__cause__ or error
    if isinstance(error, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "reset"
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, http.client.RemoteDisconnected | http.client.IncompleteRead):
        return "closed"
    return type(error).__name__


def asset_refs(body: bytes) -> list[str]:
    """The /_next/static files a page or chunk names, in order, without duplicates."""
    seen: dict[str, None] = {}
    for match in ASSET_REF.findall(body.decode("utf-8", "replace")):
        seen["/_next/" + match] = None
    return list(seen)


@dataclass
class Load:
    """Constant-rate load against host:port until stop(); `phase` labels what follows."""

    host: str
    port: int
    rate: float = 10.0  # actions per second per lane
    browse_rate: float = 1.0  # page views per second (each is 1 HTML + its assets)
    timeout: float = 10.0
    max_seconds: float = 900.0  # hard bound: the load stops by itself
    retry_stale: bool = False  # browser-like: see the module docstring
    phase: str = "start"
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _t0: float = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        lanes = [
            (self._simple, "api", "/api/version", False, self.rate),
            (self._simple, "api", "/api/version", True, self.rate),
            (self._simple, "page", "/", False, self.rate),
            (self._simple, "page", "/", True, self.rate),
            (self._browse, "page", "", False, self.browse_rate),
        ]
        for target, kind, path, fresh, rate in lanes:
            thread = threading.Thread(
                target=self._lane, args=(target, kind, path, fresh, rate), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout * 3)
        with self._lock:
            return list(self.outcomes)

    def mark(self, phase: str) -> None:
        self.phase = phase

    def _lane(self, action: ActionFn, kind: str, path: str, fresh: bool, rate: float) -> None:
        conn = Connection(self.host, self.port, self.timeout, fresh, self.retry_stale)
        period = 1.0 / rate
        due = time.monotonic()
        count = 0
        while not self._stop.is_set() and time.monotonic() - self._t0 < self.max_seconds:
            action(conn, kind, path, count)
            count += 1
            due += period
            delay = due - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
        conn.close()

    def _one(
        self, conn: Connection, kind: str, path: str, headers: dict[str, str] | None = None
    ) -> bytes:
        phase, started = self.phase, time.monotonic() - self._t0
        status: int | None = None
        error: str | None = None
        version: str | None = None
        body = b""
        try:
            status, version, body = conn.get(path, headers)
        except (OSError, http.client.HTTPException) as exc:
            error = classify(exc)
        outcome = Outcome(
            started, phase, kind, path, conn.fresh, status, error, version or None, conn.retried
        )
        with self._lock:
            self.outcomes.append(outcome)
        return body if outcome.ok else b""

    def _simple(self, conn: Connection, kind: str, path: str, _count: int) -> None:
        self._one(conn, kind, path)

    def _browse(self, conn: Connection, _kind: str, _path: str, count: int) -> None:
        page = PAGES[count % len(PAGES)]
        html = self._one(conn, "page", page)
        fetched: set[str] = set()
        for ref in asset_refs(html):
            if ref in fetched:
                continue
            fetched.add(ref)
            body = self._one(conn, "asset", ref)
            # One level deeper: a page chunk names the chunks it loads on demand (next/dynamic).
            for inner in asset_refs(body):
                if inner not in fetched:
                    fetched.add(inner)
                    self._one(conn, "asset", inner)


@dataclass(frozen=True)
class PhaseSummary:
    """Counts for one phase (or for a whole run when phase is "all")."""

    phase: str
    sent: int
    failed_status: Counter[str]  # "404 asset": n
    failed_connection: Counter[str]  # "reset page": n
    versions: Counter[str]  # which build answered page and API requests
    retried: int = 0  # answered after a browser-like retry on a new connection (not failures)

    @property
    def failed(self) -> int:
        return sum(self.failed_status.values()) + sum(self.failed_connection.values())


def summarize(outcomes: Iterable[Outcome], phase: str, kinds: Iterable[str]) -> PhaseSummary:
    """Count the outcomes of the given kinds (all phases when `phase` is "all")."""
    wanted = set(kinds)
    chosen = [o for o in outcomes if o.kind in wanted and phase in ("all", o.phase)]
    return PhaseSummary(
        phase=phase,
        sent=len(chosen),
        failed_status=Counter(f"{o.status} {o.kind}" for o in chosen if o.status and not o.ok),
        failed_connection=Counter(f"{o.error} {o.kind}" for o in chosen if o.status is None),
        versions=Counter(o.version or "-" for o in chosen if o.ok and o.kind != "asset"),
        retried=sum(1 for o in chosen if o.retried and o.ok),
    )


def phases_in_order(outcomes: Iterable[Outcome]) -> Iterator[str]:
    """Phase names in the order they first appear."""
    seen: dict[str, None] = {}
    for outcome in sorted(outcomes, key=lambda o: o.at):
        seen.setdefault(outcome.phase, None)
    yield from seen
