"""The canary analysis over 1 million access-log lines: `accesslog.read_since` (8 MiB per call,
as a watcher catching up on a long window) + `analysis.tally`, against reading the same file's
lines with Python and nothing else, in the same run, rounds interleaved.

The log is written in releases' format (accesslog.LOG_FORMAT): two releases' ports, 2% 5xx,
request times 1-400 ms, a bucket cookie on most lines, as nginx writes them.

    .venv/bin/python bench/analysis.py [--runs N] [--lines N]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

from _timing import REPO, Samples, scratch, table

sys.path.insert(0, str(REPO))

from releases_cli.serving import accesslog, analysis

LINES = 1_000_000
LIMIT = 8 << 20
BASELINE = "read the lines (Python, no parsing)"
PORTS = {3101: "20261204T100000Z", 3102: "20261204T110000Z"}


def write_log(path: Path, lines: int) -> None:
    rng = random.Random(29)
    with path.open("w") as f:
        for i in range(lines):
            port = 3101 if rng.random() < 0.9 else 3102
            status = 500 if rng.random() < 0.02 else 200
            bucket = str(rng.randrange(100)) if rng.random() < 0.95 else ""
            seconds = rng.randint(1, 400) / 1000
            f.write(f'{1733300000 + i / 100:.3f} {status} {seconds:.3f} "127.0.0.1:{port}" ')
            f.write(f'"{bucket}"\n')


def read_and_tally(path: Path) -> dict[str, analysis.Figures]:
    """The whole log read as a watcher does, in LIMIT pieces, counted per release."""
    counts: dict[str, analysis.Counts] = {}
    cursor = accesslog.Cursor()
    while True:
        hits, after = accesslog.read_since(path, cursor, LIMIT)
        if after == cursor:
            return {release: c.figures() for release, c in counts.items()}
        analysis.count(hits, PORTS, counts)
        cursor = after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS") or 5))
    parser.add_argument("--lines", type=int, default=LINES)
    args = parser.parse_args()
    with scratch("analysis") as tmp:
        log = tmp / "access.log"
        write_log(log, args.lines)
        found = read_and_tally(log)
        assert sum(f.requests for f in found.values()) == args.lines, found

        def plain() -> None:
            with log.open("rb") as f:
                for _ in f:
                    pass

        variants = {BASELINE: plain, "read_since + tally": lambda: read_and_tally(log)}
        samples = Samples()
        for round_number in range(1 + args.runs):  # one untimed warm-up round
            for label, action in variants.items():
                wall, cpu = time.perf_counter(), time.process_time()
                action()
                if round_number:
                    samples.add(label, time.perf_counter() - wall, time.process_time() - cpu)
        megabytes = log.stat().st_size / 1e6
    per_release = "; ".join(
        f"{release}: {f.requests:,} requests, {f.errors_5xx:,} 5xx, p95 {f.p95_ms} ms"
        for release, f in found.items()
    )
    table(
        f"read and tally {args.lines:,} log lines ({megabytes:.0f} MB, {LIMIT >> 20} MiB a call)",
        samples,
        [BASELINE],
        note=per_release,
    )


if __name__ == "__main__":
    main()
