"""Shared helpers of the bench scripts: wall-clock medians, interleaved runs, ratio tables.

Every figure a script prints is the median of several runs, and every ratio is against a
baseline measured in the same run (interleaved round by round, so a busy machine slows both
sides alike). Scripts take `--runs N` (default per script) so `make bench` stays quick.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def cli_argv(*args: str) -> list[str]:
    """`releases ARGS` from this checkout (the same entry point the tests use)."""
    return [PYTHON, "-m", "releases_cli", *args]


def cli_env(**extra: str) -> dict[str, str]:
    base = {
        k: v for k, v in os.environ.items() if k not in {"RELEASES_ROOT", "RELEASES_NO_FAST_PATH"}
    }
    return {**base, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **extra}


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    """Run a command to completion, output discarded; a failure stops the benchmark."""
    result = subprocess.run(
        argv,
        env=env if env is not None else cli_env(),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"benchmark command failed ({result.returncode}): {argv}\n{result.stderr.decode()}"
        )


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def interleaved(
    variants: dict[str, Callable[[], None]],
    runs: int,
    warmup: int = 1,
    between: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Time every variant once per round for `runs` rounds (after `warmup` untimed rounds).
    `between` runs untimed after each timed action (cleanup, resetting state)."""
    samples: dict[str, list[float]] = {label: [] for label in variants}
    for round_number in range(warmup + runs):
        for label, action in variants.items():
            seconds = timed(action)
            if round_number >= warmup:
                samples[label].append(seconds)
            if between is not None:
                between()
    return samples


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def table(
    title: str,
    samples: dict[str, list[float]],
    baselines: list[str],
    note: str = "",
) -> None:
    """Print median ms per variant and its ratio to each baseline (all from the same run)."""
    print(f"\n## {title}")
    if note:
        print(note)
    width = max(len(label) for label in samples)
    header = f"{'':{width}}  {'median ms':>10}  " + "  ".join(f"{'x ' + b:>18}" for b in baselines)
    print(header)
    for label, values in samples.items():
        ms = median_ms(values)
        ratios = "  ".join(f"{ms / median_ms(samples[b]):>18.2f}" for b in baselines)
        print(f"{label:{width}}  {ms:>10.1f}  {ratios}")
    runs = {len(v) for v in samples.values()}
    print(f"(median of {'/'.join(str(r) for r in sorted(runs))} runs each)")


def arguments(default_runs: int, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=default_runs, help="timed rounds per figure")
    return parser.parse_args()


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary directory on the same filesystem as /tmp, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"releases-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
