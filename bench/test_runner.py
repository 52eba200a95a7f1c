"""The tests' CLI runner: one `releases list` (10 releases) and one small `deploy`, run in the
test process (tests/inprocess.py) and as a real process, as tests/helpers.run_cli runs them.

CPU is user + system time of this process and its children together (the in-process call spends
it here). Ratios are against the real process, measured in the same rounds.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable

from _roots import root_with_releases, small_app
from _timing import REPO, Samples, arguments, scratch, table

sys.path.insert(0, str(REPO / "tests"))

from helpers import run_cli


def _cpu() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _call(*args: str, real: bool) -> Callable[[], None]:
    def action() -> None:
        result = run_cli(*args, real=real)
        if result.returncode != 0:
            raise SystemExit(f"{args} failed ({result.returncode}): {result.stderr}")

    return action


def main() -> None:
    args = arguments(15, __doc__ or "")
    with scratch("runner") as tmp:
        app = small_app(tmp / "app")
        root = root_with_releases(tmp / "root", app, 10)
        listing = ("list", "--root", str(root.path))
        (tmp / "deploys").mkdir()
        deploy = ("deploy", "--root", str(tmp / "deploys"), "--source", str(app), "--keep", "2")
        variants = {
            "list, real process": _call(*listing, real=True),
            "list, in process": _call(*listing, real=False),
            "deploy, real process": _call(*deploy, real=True),
            "deploy, in process": _call(*deploy, real=False),
        }
        samples = Samples()
        for round_number in range(1 + args.runs):  # the first round warms up (imports)
            for label, action in variants.items():
                cpu, started = _cpu(), time.perf_counter()
                action()
                if round_number:
                    samples.add(label, time.perf_counter() - started, _cpu() - cpu)
    table("test runner", samples, ["list, real process", "deploy, real process"])


if __name__ == "__main__":
    main()
