"""The canary analysis: per-release figures from the access log's hits, and the verdict of the
canary's figures against the stable release's over the same window ([analysis] thresholds).

A canary fails when its 5xx share is above `max_error_rate` and more than `error_ratio` times
the stable's, or when its p95 request time is more than `p95_ratio` times the stable's (a
p95 under `p95_floor_ms` counts as that much: a few milliseconds either way is noise, not a
regression). Nothing is decided before the canary has `min_requests`; when the stable has
fewer, only the 5xx share against `max_error_rate` is judged, and the reason says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from releases_cli.serving.accesslog import Hit

Decision = Literal["pass", "fail", "wait"]


@dataclass(frozen=True)
class Thresholds:
    """The [analysis] section."""

    max_error_rate: float = 0.01  # a 5xx share at or below this never fails a canary
    error_ratio: float = 2.0  # ... nor one at most this times the stable's
    p95_ratio: float = 1.5  # a canary p95 above this times the stable's fails it
    min_requests: int = 50  # per release in the window, before any decision
    interval: float = 5.0  # seconds between looks at the log
    p95_floor_ms: int = 100  # p95s below this compare as this


class Figures(NamedTuple):
    """One release's requests over a window."""

    requests: int
    errors_5xx: int
    p95_ms: int  # nearest-rank 95th percentile of the request times; 0 without requests

    @property
    def error_rate(self) -> float:
        return self.errors_5xx / self.requests if self.requests else 0.0

    def to_json(self) -> dict[str, int]:
        return {"requests": self.requests, "errors_5xx": self.errors_5xx, "p95_ms": self.p95_ms}


class Verdict(NamedTuple):
    decision: Decision
    reason: str


@dataclass
class Counts:
    """Running counts for one release: request times kept as a histogram of milliseconds, so
    the memory stays small however many hits are added."""

    requests: int = 0
    errors_5xx: int = 0
    times_ms: Counter[int] = field(default_factory=Counter)

    def add(self, hit: Hit) -> None:
        self.requests += 1
        self.errors_5xx += 500 <= hit.status <= 599
        self.times_ms[round(hit.seconds * 1000)] += 1

    def figures(self) -> Figures:
        return Figures(self.requests, self.errors_5xx, _p95(self.times_ms, self.requests))


def _p95(times_ms: Counter[int], count: int) -> int:
    """Nearest rank: the smallest time at or below which at least 95% of the requests fall."""
    if count == 0:
        return 0
    rank = (95 * count + 99) // 100  # ceil(0.95 * count), without float rounding
    seen = 0
    for ms in sorted(times_ms):
        seen += times_ms[ms]
        if seen >= rank:
            return ms
    raise AssertionError("the histogram holds fewer requests than counted")


def count(hits: Iterable[Hit], port_to_release: dict[int, str], into: dict[str, Counts]) -> None:
    """Add each hit to the counts of the release whose port answered it; a hit no release's
    app answered (nginx itself, static files, another upstream) counts for none. Every
    release of `port_to_release` gets counts, zero when none of the hits is its."""
    by_port = {
        port: into.setdefault(release, Counts()) for port, release in port_to_release.items()
    }
    for hit in hits:
        counts = by_port.get(hit.port) if hit.port is not None else None
        if counts is not None:
            counts.add(hit)


def tally(hits: Iterable[Hit], port_to_release: dict[int, str]) -> dict[str, Figures]:
    """Figures for every release of `port_to_release` (all zero when none of the hits is its)."""
    counts: dict[str, Counts] = {}
    count(hits, port_to_release, counts)
    return {release: c.figures() for release, c in counts.items()}


def judge(canary: Figures, stable: Figures, t: Thresholds) -> Verdict:
    """Whether the canary passes against the stable release over the same window."""
    if canary.requests < t.min_requests:
        return Verdict("wait", f"the canary has {canary.requests} of {t.min_requests} requests")
    errors = f"{_pct(canary.error_rate)} 5xx ({canary.errors_5xx} of {canary.requests})"
    if stable.requests < t.min_requests:
        alone = (
            f"judged on the 5xx share alone: the stable release has {stable.requests}"
            f" of {t.min_requests} requests"
        )
        if canary.error_rate > t.max_error_rate:
            return Verdict("fail", f"canary {errors} is above {_pct(t.max_error_rate)}; {alone}")
        return Verdict("pass", f"canary {errors} is within {_pct(t.max_error_rate)}; {alone}")
    limit = t.error_ratio * stable.error_rate
    if canary.error_rate > t.max_error_rate and canary.error_rate > limit:
        return Verdict(
            "fail",
            f"canary {errors} is above {_pct(t.max_error_rate)} and {t.error_ratio:g}x"
            f" the stable's {_pct(stable.error_rate)}",
        )
    slowest = t.p95_ratio * max(stable.p95_ms, t.p95_floor_ms)
    if canary.p95_ms > slowest:
        return Verdict(
            "fail",
            f"canary p95 {canary.p95_ms} ms is more than {t.p95_ratio:g}x the stable's"
            f" {stable.p95_ms} ms" + _floor_note(stable, t),
        )
    return Verdict(
        "pass",
        f"canary {errors}, p95 {canary.p95_ms} ms; stable {_pct(stable.error_rate)} 5xx,"
        f" p95 {stable.p95_ms} ms",
    )


def _floor_note(stable: Figures, t: Thresholds) -> str:
    if stable.p95_ms >= t.p95_floor_ms:
        return ""
    return f" (counted as {t.p95_floor_ms} ms, the floor)"


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}%"
