"""Copying a directory source of 100,000 small files: `copy_tree` + syncfs against `cp -a` + sync.

What a `releases deploy --source DIR` spends in its copy stage (and what `init --adopt` and the
`.next/cache` copy spend): the tree walked with directory descriptors and O_NOFOLLOW (nothing is
followed out of the source), files copied with copy_file_range (data extents only for sparse
files), modes and mtimes kept. The baseline is `cp -a SRC DST && sync` on the same tree in the
same run, rounds interleaved. Both sides end with their data flushed: a deploy syncs the release
before it is marked complete.

    .venv/bin/python bench/copy_tree.py [--runs N] [--files N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

from _roots import tree
from _timing import REPO, Samples, scratch, table

sys.path.insert(0, str(REPO))

from releases_cli.core.fs import sync_tree
from releases_cli.core.tree import copy_tree

FILES = 100_000
SIZE = 1024


def _timed(action: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU seconds of `action`: this process's own CPU plus its children's."""
    cpu_before = _cpu()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started, _cpu() - cpu_before


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS") or 5))
    parser.add_argument("--files", type=int, default=FILES)
    args = parser.parse_args()
    with scratch("copy") as tmp:
        source = tree(tmp / "src", args.files, per_dir=100, size=SIZE)
        dest = tmp / "dest"

        def ours() -> None:
            dest.mkdir()
            copy_tree(source, dest, excluded=frozenset())
            sync_tree(dest)

        def cp() -> None:
            subprocess.run(["sh", "-c", 'cp -a "$0" "$1" && sync', source, dest], check=True)

        def clean() -> None:
            shutil.rmtree(dest, ignore_errors=True)
            os.sync()

        samples = Samples()
        for round_number in range(1 + args.runs):  # one untimed warm-up round
            for label, action in (("cp -a + sync", cp), ("copy_tree + syncfs", ours)):
                wall, cpu = _timed(action)
                if round_number:
                    samples.add(label, wall, cpu)
                clean()
    table(
        f"copy a tree of {args.files:,} files ({SIZE} B each, 100 to a directory)",
        samples,
        ["cp -a + sync"],
        note="target: copy_tree <= 1.3x cp -a",
    )


if __name__ == "__main__":
    main()
