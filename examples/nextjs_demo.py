"""`make demo`: zero-downtime deploys of a real Next.js app under PM2, measured under load.

Deploys examples/nextjs with `releases` into a git-ignored deploy root (.demo/nextjs/root),
starts it in PM2 cluster mode behind nginx, and keeps constant-rate load on it (loadgen.py)
while it deploys v2, deploys v3 and rolls back. Then the same in blue-green mode (one PM2 app
per release, nginx flipped by `releases`: examples/nextjs_bluegreen.py), and the same load
against the old way on the same app (one directory: build into .next.new, `mv .next .next.old;
mv .next.new .next`, `pm2 reload`). The load generator retries a request once on a reused
keep-alive connection closed before any answer, as browsers do; such requests are reported
apart ("retried"), never as failures or hidden. Prints, for each, what was sent, what failed
(HTTP status and connection errors apart), which build answered in each phase and how long the
rollback command took (it returns once the old build serves). PM2 and nginx are stopped at the
end.

    python examples/nextjs_demo.py [--work DIR] [--rate N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadgen import Load, Outcome, PhaseSummary, phases_in_order, summarize
from nextjs_bluegreen import BlueGreen
from nextjs_stack import REPO, App, Stack

RELEASES_APP = App("releases-nextjs", app_port=38100, proxy_port=38080)
OLDWAY_APP = App("oldway-nextjs", app_port=38101, proxy_port=38081)
BLUEGREEN_PROXY, BLUEGREEN_PORTS = 38082, 38110  # nginx; the apps' ports start here
SETTLE_SECONDS = 3.0  # steady load before the first step and after each one


@dataclass(frozen=True)
class Step:
    """One change made under load, and the build that must answer once it is done."""

    name: str
    expect: str
    action: Callable[[], object]


@dataclass(frozen=True)
class Run:
    """Everything one scenario measured."""

    title: str
    outcomes: list[Outcome]
    answered_after: dict[str, str]  # step -> version /api/version reported right after it
    seconds: float
    step_seconds: dict[str, float]  # step -> how long its command took


def run_under_load(title: str, port: int, steps: list[Step], rate: float, settle: float) -> Run:
    """Keep constant load on 127.0.0.1:port while the steps run one after another."""
    load = Load("127.0.0.1", port, rate=rate, browse_rate=max(rate / 10, 0.5), retry_stale=True)
    answered: dict[str, str] = {}
    took: dict[str, float] = {}
    started = time.monotonic()
    load.mark("before")
    load.start()
    try:
        time.sleep(settle)
        for step in steps:
            print(f"  {title}: {step.name} ...", flush=True)
            load.mark(step.name)
            step_started = time.monotonic()
            step.action()
            took[step.name] = time.monotonic() - step_started
            load.mark(f"after {step.name}")
            answered[step.name] = _version(port)
            time.sleep(settle)
    finally:
        outcomes = load.stop()
    return Run(title, outcomes, answered, time.monotonic() - started, took)


def _version(port: int) -> str:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/version", timeout=5) as response:
        return str(json.loads(response.read())["version"])


def releases_steps(stack: Stack) -> list[Step]:
    return [
        Step("deploy v2", "v2", lambda: stack.deploy("v2")),
        Step("deploy v3", "v3", lambda: stack.deploy("v3")),
        Step("rollback", "v2", stack.rollback),
    ]


def bluegreen_steps(bg: BlueGreen) -> list[Step]:
    return [
        Step("deploy v2", "v2", lambda: bg.deploy("v2")),
        Step("deploy v3", "v3", lambda: bg.deploy("v3")),
        Step("rollback", "v2", bg.rollback),
    ]


def oldway_steps(stack: Stack) -> list[Step]:
    return [
        Step("deploy v2", "v2", lambda: stack.oldway_deploy("v2")),
        Step("deploy v3", "v3", lambda: stack.oldway_deploy("v3")),
        Step("rollback", "v2", stack.oldway_rollback),
    ]


def setup_releases(stack: Stack) -> None:
    """Install PM2 and deploy v1 with `releases` into a fresh deploy root; start it in PM2."""
    stack.work.mkdir(parents=True, exist_ok=True)
    stack.pm2_kill()  # a previous run's daemon, if it was interrupted
    shutil.rmtree(stack.root, ignore_errors=True)
    print("installing pm2 (npm, into the work directory) ...", flush=True)
    stack.install_tools()
    stack.copy_source()
    print("deploying v1 with releases (npm ci + next build) ...", flush=True)
    stack.init_root()
    stack.deploy("v1")  # its restart command (pm2 startOrReload) starts the app


def setup(stack: Stack) -> None:
    """Deploy v1 with `releases`, set up the old way's directory, start PM2 and nginx."""
    setup_releases(stack)
    print("building v1 the old way (one app directory) ...", flush=True)
    stack.oldway_setup("v1")
    stack.pm2_start(OLDWAY_APP, cwd=stack.oldway)
    stack.nginx_start()


# -- report -----------------------------------------------------------------------------------


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(counter.items())) or "0"


def phase_lines(run: Run) -> list[str]:
    lines = [f"{'phase':<20} {'sent':>6} {'failed':>7}  build that answered (page+API)"]
    for phase in phases_in_order(run.outcomes):
        s = summarize(run.outcomes, phase, ("page", "api", "asset"))
        versions = ", ".join(f"{v} x{n}" for v, n in sorted(s.versions.items()))
        lines.append(f"{phase:<20} {s.sent:>6} {s.failed:>7}  {versions}")
    return lines


def totals(run: Run) -> dict[str, PhaseSummary]:
    return {
        "page + API": summarize(run.outcomes, "all", ("page", "api")),
        "assets": summarize(run.outcomes, "all", ("asset",)),
    }


def report(runs: list[Run]) -> str:
    out: list[str] = []
    for run in runs:
        out.append(f"\n== {run.title} ({run.seconds:.0f}s under load)")
        out.extend(phase_lines(run))
        for label, s in totals(run).items():
            out.append(
                f"  {label:<11} sent {s.sent:>6}  failed {s.failed:>4}  "
                f"(HTTP: {_counts(s.failed_status)}; connection: {_counts(s.failed_connection)})"
            )
        out.append(
            "  answered right after each step: "
            + ", ".join(f"{k} -> {v}" for k, v in run.answered_after.items())
        )
    out.append("\n== side by side (same app, same load, nginx in front)")
    out.append(
        f"{'':<34} {'requests':>9} {'failed':>7}  {'non-2xx':>7}  {'conn errors':>11}"
        f"  {'retried':>7}  {'rollback command':>17}"
    )
    for run in runs:
        rollback = run.step_seconds.get("rollback")
        for label, s in totals(run).items():
            shown = f"{rollback:.2f}s" if rollback is not None and label == "page + API" else ""
            out.append(
                f"{run.title + ': ' + label:<34} {s.sent:>9} {s.failed:>7}  "
                f"{sum(s.failed_status.values()):>7}  {sum(s.failed_connection.values()):>11}"
                f"  {s.retried:>7}  {shown:>17}"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=REPO / ".demo" / "nextjs")
    parser.add_argument("--rate", type=float, default=10.0, help="requests/s per load lane")
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS)
    args = parser.parse_args(argv)
    stack = Stack(args.work, (RELEASES_APP, OLDWAY_APP))
    bg = BlueGreen(args.work / "bluegreen", BLUEGREEN_PROXY, BLUEGREEN_PORTS)
    try:
        setup(stack)
        print("setting up blue-green (its own deploy root, PM2 home and nginx) ...", flush=True)
        bg.setup()
        bg.deploy("v1")
        print("\nconstant load through nginx; every request's outcome is recorded", flush=True)
        runs = [
            run_under_load(
                "releases", RELEASES_APP.proxy_port, releases_steps(stack), args.rate, args.settle
            ),
            run_under_load(
                "blue-green", BLUEGREEN_PROXY, bluegreen_steps(bg), args.rate, args.settle
            ),
            run_under_load(
                "old way", OLDWAY_APP.proxy_port, oldway_steps(stack), args.rate, args.settle
            ),
        ]
        print(report(runs))
        print(
            f"\nnginx retried {stack.nginx_retries()} requests for the visitors "
            f"(reset or refused upstream connections)"
        )
        print("; ".join(stack.log + bg.log))
    finally:
        stack.stop()
        bg.stop()
        print("stopped PM2 and nginx", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
