"""A window of nginx's access log, judged: the one place the canary and the watch meet the
analysis API (serving/accesslog.py reads the log, serving/analysis.py tallies and judges).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from releases_cli.config import AnalysisConfig
from releases_cli.core.events import Figures
from releases_cli.serving import accesslog, analysis

LOOK_BYTES = 8 << 20  # read at most this much of the log per look (the rest at the next one)
MAX_HITS = 500_000  # a window keeps at most this many requests (the newest)

Cursor = dict[str, int | str]  # {"inode": n, "offset": n}: where a window began (serve state)


def log_end(path: Path) -> Cursor:
    """A cursor at the end of the log now (a window that starts now)."""
    return _as_dict(accesslog.end_of(path))


def _as_dict(cursor: accesslog.Cursor) -> Cursor:
    return {"inode": cursor.inode, "offset": cursor.offset}


class Verdict(NamedTuple):
    decision: str  # "pass", "fail" or "wait" (too few requests yet)
    reason: str
    figures: Figures


class Window:
    """The requests of one window, read from `cursor` on, a bounded chunk per look."""

    def __init__(self, path: Path, cursor: Cursor) -> None:
        self.path = path
        self._at = accesslog.Cursor(
            int(cursor.get("inode", 0)),
            int(cursor.get("offset", 0)),
            bool(cursor.get("skipping", 0)),  # starting mid-line: drop up to its end
        )
        self.hits: list[accesslog.Hit] = []

    @property
    def cursor(self) -> Cursor:
        """Where the next look reads from."""
        return _as_dict(self._at)

    def look(self) -> None:
        """Read what nginx logged since the last look (rotation is the reader's business);
        OSError when the log is not one to read (a link, a FIFO)."""
        hits, self._at = accesslog.read_since(self.path, self._at, LOOK_BYTES)
        self.hits.extend(hits)
        del self.hits[:-MAX_HITS]

    def judge(
        self,
        candidate: str,
        baseline: str,
        ports: dict[int, str],
        t: AnalysisConfig,
        before: Window | None = None,
    ) -> Verdict:
        """`candidate` (a canary, or the release live since a flip) against `baseline`, both
        over this window, or the baseline over `before` (the window before a flip)."""
        tallied = dict(analysis.tally(self.hits, ports))
        if before is not None:
            earlier = analysis.tally(before.hits, ports)
            tallied.pop(baseline, None)
            if baseline in earlier:
                tallied[baseline] = earlier[baseline]
        empty = analysis.Figures(0, 0, 0)
        thresholds = analysis.Thresholds(
            max_error_rate=t.max_error_rate,
            error_ratio=t.error_ratio,
            p95_ratio=t.p95_ratio,
            min_requests=t.min_requests,
            interval=t.interval,
        )
        ruled = analysis.judge(
            tallied.get(candidate, empty), tallied.get(baseline, empty), thresholds
        )
        figures: Figures = {
            rid: {
                "requests": float(f.requests),
                "errors_5xx": float(f.errors_5xx),
                "p95_ms": float(f.p95_ms),
            }
            for rid, f in tallied.items()
            if rid in (candidate, baseline)
        }
        return Verdict(ruled.decision, ruled.reason, figures)


def figures_line(figures: Figures, order: tuple[str, ...]) -> str:
    """`<id> 120 req 3 5xx p95 40ms | <id> ...` for a progress line."""
    parts = []
    for rid in order:
        f = figures.get(rid, {})
        parts.append(
            f"{rid} {int(f.get('requests', 0))} req {int(f.get('errors_5xx', 0))} 5xx "
            f"p95 {int(f.get('p95_ms', 0))}ms"
        )
    return " | ".join(parts)
