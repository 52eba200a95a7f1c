"""A stand-in for the analysis API (serving/accesslog.py + serving/analysis.py, written by
another engineer to the contract in docs/canary.md) so the canary's decision path can be
tested before the two land: a plain `|`-separated nginx log format, an unbounded-rotation-less
reader and the documented thresholds. It is installed in sys.modules by the tests that use it
and says nothing about how the real modules read the log; their own tests do."""

from __future__ import annotations

import math
import os
import types
from typing import NamedTuple

LOG_FORMAT = "$msec|$upstream_addr|$status|$request_time|$cookie_rl_t"


class Cursor(NamedTuple):
    inode: int
    offset: int


class Hit(NamedTuple):
    at: float
    port: int | None
    status: int
    seconds: float
    bucket: int | None


def log_format(app: str) -> str:
    return f"log_format releases_{app} '{LOG_FORMAT.replace('_t', '_' + app)}';"


def read_since(path: str, cursor: Cursor, limit_bytes: int) -> tuple[list[Hit], Cursor]:
    try:
        with open(path, "rb") as f:
            inode = os.fstat(f.fileno()).st_ino
            offset = cursor.offset if inode == cursor.inode else 0
            f.seek(offset)
            data = f.read(limit_bytes)
    except FileNotFoundError:
        return [], cursor
    end = data.rfind(b"\n") + 1
    hits = []
    for line in data[:end].decode(errors="replace").splitlines():
        at, addr, status, seconds, _bucket = line.split("|")
        last = addr.split(",")[-1].strip()
        port = int(last.rsplit(":", 1)[1]) if ":" in last else None
        hits.append(Hit(float(at), port, int(status), float(seconds), None))
    return hits, Cursor(inode, offset + end)


class Figures(NamedTuple):
    requests: int
    errors_5xx: int
    p95_ms: float


class Thresholds(NamedTuple):
    max_error_rate: float = 0.01
    error_ratio: float = 2.0
    p95_ratio: float = 1.5
    min_requests: int = 50


class Verdict(NamedTuple):
    decision: str
    reason: str


def tally(hits: list[Hit], port_to_release: dict[int, str]) -> dict[str, Figures]:
    found: dict[str, list[Hit]] = {}
    for hit in hits:
        release = port_to_release.get(hit.port or 0)
        if release is not None:
            found.setdefault(release, []).append(hit)
    result = {}
    for release, mine in found.items():
        times = sorted(h.seconds for h in mine)
        p95 = times[max(0, math.ceil(0.95 * len(times)) - 1)] * 1000
        result[release] = Figures(len(mine), sum(h.status >= 500 for h in mine), p95)
    return result


def judge(canary: Figures, stable: Figures, t: Thresholds) -> Verdict:
    if canary.requests < t.min_requests:
        return Verdict("wait", f"{canary.requests} requests of {t.min_requests}")
    rate = canary.errors_5xx / canary.requests
    stable_rate = stable.errors_5xx / stable.requests if stable.requests else 0.0
    if rate > t.max_error_rate and rate > t.error_ratio * stable_rate:
        return Verdict("fail", f"5xx share {rate:.1%} (stable {stable_rate:.1%})")
    return Verdict("pass", f"5xx share {rate:.1%}")


accesslog = types.ModuleType("releases_cli.serving.accesslog")
analysis = types.ModuleType("releases_cli.serving.analysis")
for _name in ("LOG_FORMAT", "Cursor", "Hit", "log_format", "read_since"):
    setattr(accesslog, _name, globals()[_name])
for _name in ("Figures", "Thresholds", "Verdict", "tally", "judge"):
    setattr(analysis, _name, globals()[_name])
