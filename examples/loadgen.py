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
  visitors                          simulated visitors (`visitors=N`, `visit_rate`): each keeps
                                    its own keep-alive connection and cookie jar across its page
                                    views, as a browser does, so nginx's sticky canary cookie
                                    (`bucket_cookie`, rl_<app>) is sent back; every view records
                                    the visitor, the bucket it holds and the build that answered
The `x-app-version` response header says which build answered. A lane with rate 0 is off.

`retry_stale=True` makes the client behave like a browser (and curl, urllib3) in one case: a
request sent on a *reused* keep-alive connection that the server closed before any byte of an
answer is retried once on a new connection. nginx closes idle client connections when it
reloads, so without it every reload shows up as a few `closed` failures no visitor sees. Such a
request is counted as `retried` (reported separately); a retry that fails again is a failure,
and a fresh connection is never retried.
"""

from __future__ import annotations

import dataclasses
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
    visitor: int | None = None  # the simulated visitor (visitor lanes only)
    bucket: int | None = None  # the visitor's bucket cookie after this answer, when it holds one

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
        status, message, body = self.fetch(path, headers)
        return status, message.get("x-app-version") or "", body

    def fetch(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """Status, all response headers and body; raises OSError/HTTPException on failure."""
        reused = self._conn is not None and not self.fresh
        self.retried = False
        try:
            return self._get(path, headers)
        except _Stale:
            if not (self.retry_stale and reused):
                raise
        self.retried = True
        return self._get(path, headers)

    def _get(
        self, path: str, headers: dict[str, str] | None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
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
        return response.status, response.msg, body

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


class Visitor:
    """One simulated visitor: its own keep-alive connection and cookie jar (name -> value),
    which it sends back with every later request, as a browser does."""

    def __init__(self, number: int, conn: Connection) -> None:
        self.number, self.conn = number, conn
        self.cookies: dict[str, str] = {}

    def headers(self) -> dict[str, str]:
        if not self.cookies:
            return {}
        return {"Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items())}

    def keep(self, set_cookie: list[str]) -> None:
        """Store each `Set-Cookie: name=value; attributes` (Max-Age=0 deletes it)."""
        for line in set_cookie:
            pair, _, attributes = line.partition(";")
            name, equals, value = pair.strip().partition("=")
            if not (name and equals):
                continue
            if re.search(r"(?:^|;)\s*max-age\s*=\s*(?:0+|-\d+)\s*(?:;|$)", attributes, flags=re.I):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value.strip()

    def bucket(self, cookie: str) -> int | None:
        value = self.cookies.get(cookie, "") if cookie else ""
        return int(value) if value.isdigit() else None


@dataclass
class Load:
    """Constant-rate load against host:port until stop(); `phase` labels what follows."""

    host: str
    port: int
    rate: float = 10.0  # actions per second per lane (0: no api/page lanes)
    browse_rate: float = 1.0  # page views per second (each is 1 HTML + its assets; 0: none)
    timeout: float = 10.0
    max_seconds: float = 900.0  # hard bound: the load stops by itself
    retry_stale: bool = False  # browser-like: see the module docstring
    visitors: int = 0  # simulated visitors with cookies (see the module docstring)
    visit_rate: float = 20.0  # their page views per second, all visitors together
    visit_paths: tuple[str, ...] = ("/",)  # each visitor's views cycle through these
    visit_lanes: int = 4  # threads sharing the visitors (each visitor stays on one)
    bucket_cookie: str = ""  # the sticky cookie recorded as `bucket` (rl_<app>)
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
            if rate > 0:
                self._spawn(self._lane, target, kind, path, fresh, rate)
        lanes_used = min(self.visit_lanes, self.visitors)
        for lane in range(lanes_used if self.visit_rate > 0 else 0):
            group = [
                Visitor(n, Connection(self.host, self.port, self.timeout, False, self.retry_stale))
                for n in range(lane, self.visitors, lanes_used)
            ]
            self._spawn(self._visitor_lane, group, self.visit_rate / lanes_used)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
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

    def clock(self) -> float:
        """Seconds since start(), on the clock of every Outcome.at."""
        return time.monotonic() - self._t0

    def _every(self, rate: float, step: Callable[[int], None]) -> None:
        """step(0), step(1), ... on a fixed schedule of `rate` per second until stopped."""
        period = 1.0 / rate
        due = time.monotonic()
        count = 0
        while not self._stop.is_set() and time.monotonic() - self._t0 < self.max_seconds:
            step(count)
            count += 1
            due += period
            delay = due - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def _lane(self, action: ActionFn, kind: str, path: str, fresh: bool, rate: float) -> None:
        conn = Connection(self.host, self.port, self.timeout, fresh, self.retry_stale)
        self._every(rate, lambda count: action(conn, kind, path, count))
        conn.close()

    def _visitor_lane(self, group: list[Visitor], rate: float) -> None:
        """The visitors of one lane take turns; each view is one page of `visit_paths`."""

        def view(count: int) -> None:
            visitor = group[count % len(group)]
            path = self.visit_paths[(count // len(group)) % len(self.visit_paths)]
            self._one(visitor.conn, "page", path, visitor=visitor)

        self._every(rate, view)
        for visitor in group:
            visitor.conn.close()

    def _one(
        self,
        conn: Connection,
        kind: str,
        path: str,
        headers: dict[str, str] | None = None,
        visitor: Visitor | None = None,
    ) -> bytes:
        phase, started = self.phase, time.monotonic() - self._t0
        status: int | None = None
        error: str | None = None
        version = ""
        body = b""
        try:
            sent = {**(headers or {}), **(visitor.headers() if visitor else {})}
            status, message, body = conn.fetch(path, sent)
            version = message.get("x-app-version") or ""
            if visitor is not None:
                visitor.keep(message.get_all("Set-Cookie") or [])
        except (OSError, http.client.HTTPException) as exc:
            error = classify(exc)
        outcome = Outcome(
            started, phase, kind, path, conn.fresh, status, error, version or None, conn.retried
        )
        if visitor is not None:
            number, bucket = visitor.number, visitor.bucket(self.bucket_cookie)
            outcome = dataclasses.replace(outcome, visitor=number, bucket=bucket)
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


def by_visitor(outcomes: Iterable[Outcome], phases: Iterable[str] = ()) -> dict[int, list[Outcome]]:
    """The visitor lanes' outcomes per visitor, in time order (of `phases` only, when given)."""
    wanted = set(phases)
    found: dict[int, list[Outcome]] = {}
    for outcome in sorted(outcomes, key=lambda o: o.at):
        if outcome.visitor is not None and (not wanted or outcome.phase in wanted):
            found.setdefault(outcome.visitor, []).append(outcome)
    return found


def builds_seen(visits: Iterable[Outcome]) -> set[str]:
    """The builds (x-app-version) that answered these requests, whatever the status."""
    return {o.version for o in visits if o.version}
