"""Shared helpers of the bench scripts: wall-clock medians, interleaved runs, ratio tables.

Every figure a script prints is the median of several runs, and every ratio is against a
baseline measured in the same run (interleaved round by round, so a busy machine slows both
sides alike). Scripts take `--runs N` (default per script, or $BENCH_RUNS).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def cli_argv(*args: str) -> list[str]:
    """`releases ARGS` from this checkout (the same entry point the tests use)."""
    return [PYTHON, "-m", "releases_cli", *args]


def cli_env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "RELEASES_ROOT"}
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


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Samples:
    """Wall-clock and CPU seconds (user + system of the child processes) per variant."""

    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def add(self, label: str, wall: float, cpu: float | None = None) -> None:
        self.wall.setdefault(label, []).append(wall)
        if cpu is not None:
            self.cpu.setdefault(label, []).append(cpu)


def measure(action: Callable[[], None]) -> tuple[float, float]:
    """Wall seconds of `action`, and the CPU seconds of the child processes it waited for."""
    cpu_before = _cpu_of_children()
    started = time.perf_counter()
    action()
    wall = time.perf_counter() - started
    return wall, _cpu_of_children() - cpu_before


def interleaved(
    variants: dict[str, Callable[[], None]],
    runs: int,
    warmup: int = 1,
    between: Callable[[], None] | None = None,
) -> Samples:
    """Time every variant once per round for `runs` rounds (after `warmup` untimed rounds).
    `between` runs untimed after each timed action (cleanup, resetting state)."""
    samples = Samples()
    for round_number in range(warmup + runs):
        for label, action in variants.items():
            wall, cpu = measure(action)
            if round_number >= warmup:
                samples.add(label, wall, cpu)
            if between is not None:
                between()
    return samples


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def table(title: str, samples: Samples, baselines: list[str], note: str = "") -> None:
    """Print the median wall ms of each variant, its ratio to each baseline (all measured in the
    same run) and, where known, the median CPU ms (user + system)."""
    print(f"\n## {title}")
    if note:
        print(note)
    width = max(len(label) for label in samples.wall)
    ratio_heads = "".join(f"  {'x ' + b:>22}" for b in baselines)
    print(f"{'':{width}}  {'wall ms':>9}  {'cpu ms':>8}{ratio_heads}")
    for label, values in samples.wall.items():
        ms = median_ms(values)
        cpu = f"{median_ms(samples.cpu[label]):8.1f}" if label in samples.cpu else f"{'-':>8}"
        ratios = "".join(f"  {ms / median_ms(samples.wall[b]):>22.2f}" for b in baselines)
        print(f"{label:{width}}  {ms:>9.1f}  {cpu}{ratios}")
    runs = sorted({len(v) for v in samples.wall.values()})
    print(f"(medians of {'/'.join(str(r) for r in runs)} runs; load average {_load()})")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def arguments(
    default_runs: int, description: str, releases: int | None = None
) -> argparse.Namespace:
    """--runs (or $BENCH_RUNS); with `releases`, also --releases (how many the root holds)."""
    parser = argparse.ArgumentParser(description=description)
    runs = int(os.environ.get("BENCH_RUNS") or default_runs)
    parser.add_argument("--runs", type=int, default=runs, help="timed rounds per figure")
    if releases is not None:
        parser.add_argument("--releases", type=int, default=releases, help="releases in the root")
    return parser.parse_args()


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary directory on the same filesystem as /tmp, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"releases-bench-{prefix}-"))
    try:
        yield path
    finally:
        _remove(path)


def _remove(path: Path, patience: float = 10.0) -> None:
    """Remove `path`, retrying for a while: after an interrupt, processes the benchmark started
    detached (a prune cleaner, a remote command still finishing under sshd) may write into it
    while it is being removed, and one pass then leaves the directory behind."""
    deadline = time.monotonic() + patience
    while True:
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists() or time.monotonic() > deadline:
            return
        time.sleep(0.2)
