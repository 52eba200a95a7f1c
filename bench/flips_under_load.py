"""Flips and builds at the server's capacity: the Next.js example served blue-green behind nginx
(examples/nextjs_bluegreen.py), loaded by `hey` (Debian's package; a load generator this
project did not write), measured from nginx's own access log ($msec, $status, $request_time).

1. Capacity: every lane without a rate limit for --probe seconds; the requests/s nginx logged.
2. For each setting ("before": no warm-up, builds at normal priority, i.e. warmup_requests = 0,
   build.nice = 0, build.io_class = "none"; "after": the defaults) and each share of capacity
   (--shares, default 70% and 100%), under hey at that rate:
     - idle flip: `rollback --to` the release that has waited warm with no traffic for --idle
       seconds (`releases reap` runs every 60 s meanwhile, as the documented cron line does);
     - just-live flip: 10 s later, back to the release that was live until then;
     - deploy: a new version, built while the load runs, then flipped to.
   Each event prints per --window seconds, from 10 s before its command to 20 s after it ended:
   requests, p99 of nginx's request time, and failures (5xx, or 499: the client gave up).
   The steady-state p99 is that of the 10 s before each event.

The lanes (hey processes, together the page views of visitors): GET / on new connections, GET
/ with keep-alive, GET /api/version and GET one of the page's own scripts (keep-alive).

    .venv/bin/python bench/flips_under_load.py                  # about 30 minutes
    .venv/bin/python bench/flips_under_load.py --idle 20 --shares 0.7   # a quick look
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples"))

from nextjs_bluegreen import BlueGreen  # noqa: E402

LOG_FORMAT = 'log_format releases_bench "$msec $status $request_time";'
BEFORE = "warmup_requests = 0\n", 'nice = 0\nio_class = "none"\n'
PRE, POST = 10.0, 20.0  # seconds shown around each event


@dataclass(frozen=True)
class Lane:
    path: str
    share: float  # of the total rate
    workers: int
    keepalive: bool = True


def lanes(asset: str) -> tuple[Lane, ...]:
    return (
        Lane("/", 0.2, 8, keepalive=False),
        Lane("/", 0.3, 12),
        Lane("/api/version", 0.25, 8),
        Lane(asset, 0.25, 8),
    )


@contextmanager
def load(port: int, rate: float | None, seconds: float, asset: str) -> Iterator[None]:
    """hey lanes at `rate` requests/s in all (None: as fast as they can) for `seconds`."""
    procs = []
    for lane in lanes(asset):
        argv = ["hey", "-z", f"{seconds:.0f}s", "-c", str(lane.workers), "-t", "10"]
        if rate is not None:
            argv += ["-q", f"{rate * lane.share / lane.workers:.3f}"]
        if not lane.keepalive:
            argv.append("-disable-keepalive")
        argv.append(f"http://127.0.0.1:{port}{lane.path}")
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def read_log(path: Path, start: float, end: float) -> list[tuple[float, int, float]]:
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and start <= float(parts[0]) < end:
            rows.append((float(parts[0]), int(parts[1]), float(parts[2])))
    return rows


def p99(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def windows(rows: list[tuple[float, int, float]], start: float, end: float, size: float) -> str:
    lines = []
    t = start
    while t + size <= end:  # whole windows only
        inside = [r for r in rows if t <= r[0] < t + size]
        failed = sum(1 for _, status, _ in inside if status >= 500 or status == 499)
        lines.append(
            f"    {t - start - PRE:+6.0f}s  {len(inside):6d} req  "
            f"p99 {p99([r[2] for r in inside]) * 1000:7.0f} ms  {failed:4d} failed"
        )
        t += size
    return "\n".join(lines)


class Bench:
    def __init__(self, work: Path, window: float) -> None:
        self.bg = BlueGreen(work, proxy_port=free_port(), first_port=free_port(), grace="2h")
        self.window = window
        self.access = work / "access.log"
        self.asset = "/"
        self.version = 0
        self.toml = ""

    def setup(self) -> None:
        self.bg.setup()
        self.toml = (self.bg.root / "releases.toml").read_text()
        conf = self.bg.ngx / "nginx.conf"
        conf.write_text(
            conf.read_text().replace(
                "access_log off;", f"{LOG_FORMAT}\n    access_log {self.access} releases_bench;"
            )
        )
        subprocess.run(
            [*self.bg.nginx_words(), "-c", str(conf), "-s", "reload"], check=True, timeout=30
        )
        self.deploy()
        self.deploy()
        page = urllib.request.urlopen(f"http://127.0.0.1:{self.bg.proxy_port}/", timeout=10)
        scripts = re.findall(r'src="(/_next/static/[^"]+\.js)"', page.read().decode())
        self.asset = scripts[0] if scripts else "/"

    def configure(self, before: bool) -> None:
        """releases.toml as the example has it ("after"), or with the "before" settings."""
        text = self.toml
        if before:
            serve, build = BEFORE
            text = text.replace("[serve]\n", f"[serve]\n{serve}", 1)
            text = text.replace("[build]\n", f"[build]\n{build}", 1)
        (self.bg.root / "releases.toml").write_text(text)

    def deploy(self) -> None:
        self.version += 1
        self.bg.deploy(f"v{self.version}")

    def capacity(self, seconds: float) -> float:
        start = time.time()
        with load(self.bg.proxy_port, None, seconds, self.asset):
            time.sleep(seconds)
        return len(read_log(self.access, start + 2, start + seconds)) / (seconds - 2)

    def event(self, title: str, action: str, rate: float) -> float:
        """Run `action` under load at `rate`; print its windows; return its worst-window p99."""
        start = time.time()
        with load(self.bg.proxy_port, rate, 3600, self.asset):
            time.sleep(PRE)
            began = time.monotonic()
            if action == "deploy":
                self.deploy()
            else:
                self.bg.releases("rollback", "--to", action)
            took = time.monotonic() - began
            time.sleep(POST)
            end = time.time()  # before hey is stopped: the requests it drops are not failures
        rows = read_log(self.access, start, end)
        steady = p99([r[2] for r in rows if r[0] < start + PRE])
        print(f"  {title} (command {took:.1f}s; steady p99 {steady * 1000:.0f} ms)")
        print(windows(rows, start, end, self.window), flush=True)
        after = _steps(start + PRE, end, self.window)
        worst = max(p99([r[2] for r in rows if t <= r[0] < t + self.window]) for t in after)
        return worst / steady if steady else 0.0

    def round(self, before: bool, rate: float, idle: float) -> dict[str, float]:
        self.configure(before)
        live = self.bg.current()
        waiting = self._other_warm(live)
        deadline = time.monotonic() + idle
        while time.monotonic() < deadline:  # the documented cron line: reap every minute
            time.sleep(min(60.0, max(deadline - time.monotonic(), 0)))
            self.bg.reap()
        ratios = {"idle flip": self.event(f"flip to {waiting}, idle {idle:.0f}s", waiting, rate)}
        time.sleep(10)
        ratios["just-live flip"] = self.event(f"flip back to {live}, live 10 s ago", live, rate)
        ratios["deploy"] = self.event("deploy with a build", "deploy", rate)
        # The new release is live; the one before it waits warm, with no traffic, from here.
        return ratios

    def _other_warm(self, live: str) -> str:
        import json

        state = json.loads((self.bg.root / ".releases" / "serve" / "state.json").read_text())
        others = sorted(r for r in state["apps"] if r != live)
        return others[-1]


def _steps(start: float, end: float, size: float) -> Iterator[float]:
    t = start
    while t + size <= end:
        yield t
        t += size


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=120, help="seconds the flip target idles")
    parser.add_argument("--window", type=float, default=5, help="seconds per printed window")
    parser.add_argument("--probe", type=float, default=15, help="seconds of the capacity probe")
    parser.add_argument("--shares", default="0.7,1.0", help="shares of capacity to load at")
    parser.add_argument("--work", type=Path, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        print("needs hey: apt-get install hey", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="releases-flips-"))
    bench = Bench(work, args.window)
    try:
        bench.setup()
        capacity = bench.capacity(args.probe)
        print(f"capacity: {capacity:.0f} requests/s (nginx log, {args.probe:.0f} s unlimited)")
        results: dict[tuple[str, str], dict[str, float]] = {}
        for share in (float(s) for s in args.shares.split(",")):
            for before in (True, False):
                name = "before" if before else "after"
                print(f"\n{name}, {share:.0%} of capacity ({capacity * share:.0f} req/s):")
                results[(name, f"{share:.0%}")] = bench.round(before, capacity * share, args.idle)
        print("\nworst 5 s window p99 after each command, as a multiple of the steady p99:")
        for (name, share), ratios in results.items():
            shown = ", ".join(f"{k} {v:.1f}x" for k, v in ratios.items())
            print(f"  {name:6} {share:>4}: {shown}")
    finally:
        bench.bg.stop()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NEXT_TELEMETRY_DISABLED", "1")
    sys.exit(main())
