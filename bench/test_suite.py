"""The test suite's CLI calls in process (the default) vs every call a real process
(RELEASES_TESTS_SUBPROCESS=1), on the same test files, interleaved round by round.

The files are those dominated by CLI calls whose process semantics are not the point (deploy,
rollback, config, history, stage/switch, shared, doctor); tests that need a real process run as
one either way. Pass test files as arguments to time others.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable

from _timing import REPO, interleaved, table

FILES = [
    "tests/cli/test_deploy.py",
    "tests/cli/test_rollback.py",
    "tests/cli/test_config.py",
    "tests/cli/test_history_cmd.py",
    "tests/cli/test_twophase.py",
    "tests/cli/test_shared.py",
    "tests/cli/test_doctor.py",
]


def _pytest(files: list[str], real_processes: bool) -> Callable[[], None]:
    env = {k: v for k, v in os.environ.items() if k != "RELEASES_TESTS_SUBPROCESS"}
    if real_processes:
        env["RELEASES_TESTS_SUBPROCESS"] = "1"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files]

    def action() -> None:
        done = subprocess.run(argv, check=False, cwd=REPO, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"pytest failed:\n{done.stdout[-2000:]}")

    return action


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS") or 3))
    parser.add_argument("files", nargs="*", default=FILES, help="test files (default: %(default)s)")
    args = parser.parse_args()
    files: list[str] = args.files
    samples = interleaved(
        {
            "every call a real process": _pytest(files, real_processes=True),
            "in process (default)": _pytest(files, real_processes=False),
        },
        args.runs,
        warmup=0,
    )
    table(f"test suite: {len(files)} files", samples, ["every call a real process"])


if __name__ == "__main__":
    main()
