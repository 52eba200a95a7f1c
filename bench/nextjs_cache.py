"""How much the Next.js preset's `.next/cache` reuse saves on the second build.

Builds tests/fixtures/nextjs-app once (npm ci + next build) as the "previous release", then for
each run times `next build` in two fresh copies of the app (node_modules included, `.next`
left out, like a new release): one cold, one with the previous release's `.next/cache` copied
in by the preset's own `reuse_build_cache`. Prints the medians and their ratio, all measured in
this run. Cold and warm builds alternate so machine drift hits both alike.

    .venv/bin/python bench/nextjs_cache.py --runs 5
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from releases_cli.core.tree import copy_tree, tree_size  # noqa: E402
from releases_cli.nextjs.preset import reuse_build_cache  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "nextjs-app"
ENV = {**os.environ, "NEXT_TELEMETRY_DISABLED": "1"}


def run(command: list[str], cwd: Path) -> float:
    started = time.monotonic()
    subprocess.run(command, cwd=cwd, env=ENV, check=True, capture_output=True)
    return time.monotonic() - started


def fresh_copy(base: Path, dest: Path) -> Path:
    """A new release: the app with its node_modules, without any `.next`."""
    dest.mkdir()
    copy_tree(base, dest, excluded=frozenset({".next"}))
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="releases-bench-") as tmp:
        work = Path(tmp)
        previous = work / "previous"
        shutil.copytree(FIXTURE, previous)
        run(["npm", "ci", "--no-audit", "--no-fund"], previous)
        first = run(["npx", "next", "build"], previous)
        cache = previous / ".next" / "cache"
        print(
            f"first build {first:.2f}s; previous release's .next/cache {tree_size(cache) >> 20} MiB"
        )
        cold: list[float] = []
        warm: list[float] = []
        copies: list[float] = []
        for n in range(args.runs):
            release = fresh_copy(previous, work / f"cold-{n}")
            cold.append(run(["npx", "next", "build"], release))
            release = fresh_copy(previous, work / f"warm-{n}")
            started = time.monotonic()
            reuse_build_cache(previous, release)
            copies.append(time.monotonic() - started)
            warm.append(run(["npx", "next", "build"], release))
            print(
                f"run {n + 1}: cold {cold[-1]:.2f}s, warm {warm[-1]:.2f}s (+copy {copies[-1]:.2f}s)"
            )
            shutil.rmtree(work / f"cold-{n}")
            shutil.rmtree(work / f"warm-{n}")
        cold_m, warm_m, copy_m = (statistics.median(x) for x in (cold, warm, copies))
        print(f"median second build without cache: {cold_m:.2f}s")
        print(f"median second build with cache:    {warm_m:.2f}s (+ {copy_m:.2f}s to copy it)")
        print(
            f"ratio with/without: {warm_m / cold_m:.2f}; "
            f"including the copy: {(warm_m + copy_m) / cold_m:.2f}"
        )


if __name__ == "__main__":
    main()
