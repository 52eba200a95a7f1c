"""The health check: poll the app over HTTP until it answers as expected, or give up.

urllib only. Proxies from the environment are ignored (the check is about this server's app,
not about whatever proxy the shell has configured) and redirects are not followed (the status
compared is the one the app answered). When the caller names a path only the new build serves
(for Next.js, its `_buildManifest.js` or a chunk no other release has), a second probe asks for
it on the same host: a 200 proves the new build is the one being served, not an old worker.
The loop is bounded by `timeout` overall.
"""

from __future__ import annotations

import functools
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING

from releases_cli.config import HealthConfig

if TYPE_CHECKING:
    import urllib.request

Report = Callable[[str], None]
Sleep = Callable[[float], None]
Monotonic = Callable[[], float]


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    """No proxies, no redirects. Imported lazily: urllib.request (http.client, email, ssl)
    would slow the start of every `releases rollback`, also without a health check."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_args: object, **_kwargs: object) -> None:
            return None  # urllib then raises HTTPError carrying the 3xx status

    return urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())


def probe(url: str, timeout: float) -> int | str:
    """One GET: the HTTP status, or a short description of why there was none."""
    import urllib.error

    try:
        with _opener().open(url, timeout=timeout) as response:
            response.read(65536)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return str(reason) or type(error).__name__


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
    """Poll until `url` answers `expected` or `deadline` passes; (ok, last outcome)."""
    outcome: int | str = "no attempt made"
    while True:
        remaining = deadline - now()
        if remaining <= 0:
            return False, str(outcome)
        outcome = probe(url, min(remaining, 10.0))
        if outcome == expected:
            return True, str(outcome)
        if deadline - now() <= 0:
            return False, str(outcome)
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
