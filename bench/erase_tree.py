"""Deleting a pruned release: `erase.remove` (core/erase.py) against `rm -rf` and shutil.rmtree.

What the detached cleaner and `releases prune` spend per pruned tree. The tool's own delete
holds one directory descriptor and climbs back through a checked `..` (so depth is no limit),
which costs an open and an fstat per directory more than rmtree's descriptor per level. Two
trees: one like node_modules (many files, 100 to a directory), and one 5,000 levels deep (which
shutil.rmtree cannot delete: RecursionError). Each round deletes a fresh copy of the tree
(`cp -a`, or for the deep one a new tree: cp cannot copy it past PATH_MAX; not timed).

    .venv/bin/python bench/erase_tree.py [--runs N] [--files N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from _roots import tree
from _timing import REPO, Samples, measure, scratch, table

sys.path.insert(0, str(REPO))

from releases_cli.core import erase

FILES = 50_000
DEPTH = 5_000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def deep_tree(path: Path, depth: int) -> Path:
    """`path/d/d/...` `depth` levels, a file at each, made relative to descriptors."""
    path.mkdir()
    fd = os.open(path, _DIR_FLAGS)
    for _ in range(depth):
        os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
        os.mkdir("d", dir_fd=fd)
        below = os.open("d", _DIR_FLAGS, dir_fd=fd)
        os.close(fd)
        fd = below
    os.close(fd)
    return path


def _ours(victim: Path) -> None:
    parent = os.open(victim.parent, _DIR_FLAGS)
    try:
        erase.remove(parent, victim.name)
    finally:
        os.close(parent)


def _rm(victim: Path) -> None:
    subprocess.run(["rm", "-rf", "--", str(victim)], check=True)


def _rmtree(victim: Path) -> None:
    shutil.rmtree(victim)


def _rounds(
    make: Callable[[Path], None],
    victim: Path,
    variants: dict[str, Callable[[Path], None]],
    runs: int,
) -> Samples:
    samples = Samples()
    for round_number in range(1 + runs):  # one untimed warm-up round
        for label, delete in variants.items():
            make(victim)
            os.sync()
            wall, cpu = measure(lambda delete=delete: delete(victim))
            assert not victim.exists(), label
            if round_number:
                samples.add(label, wall, cpu)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS") or 5))
    parser.add_argument("--files", type=int, default=FILES)
    args = parser.parse_args()
    with scratch("erase") as tmp:
        wide = tree(tmp / "wide", args.files, per_dir=100)

        def copy(victim: Path) -> None:
            subprocess.run(["cp", "-a", str(wide), str(victim)], check=True)

        variants = {"rm -rf": _rm, "shutil.rmtree": _rmtree, "erase.remove": _ours}
        samples = _rounds(copy, tmp / "victim", variants, args.runs)
        table(f"delete a tree of {args.files:,} files (100 to a directory)", samples, ["rm -rf"])

        def deep(victim: Path) -> None:
            deep_tree(victim, DEPTH)

        try:
            variants = {"rm -rf": _rm, "erase.remove": _ours}
            samples = _rounds(deep, tmp / "victim", variants, args.runs)
        finally:
            _ours(tmp / "victim")  # scratch's own rmtree cannot delete it
        table(f"delete a tree {DEPTH:,} levels deep (a file at each)", samples, ["rm -rf"])


if __name__ == "__main__":
    main()
