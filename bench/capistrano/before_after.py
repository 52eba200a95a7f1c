"""Benchmark: `releases` from this checkout against another one (the code before a change),
on compare.py's repository, without Capistrano: the before/after of a change, in one run.

Two deploy roots, one per checkout. Five untimed deploys fill each to keep 5; then K rounds of
a one-file commit (untimed) and `releases deploy --repo URL --keep 5` (each prunes its oldest
release) from both checkouts, then K rounds of `releases rollback --to` the release before,
from both; the order alternates round by round. Before each timed command every detached
cleaner has finished (untimed, see compare.py's settle): each command is timed alone. Each
checkout is timed as a regular install (bench/_installed.py), as compare.py does.

    python bench/capistrano/before_after.py --baseline /tmp/base [--runs 7] [--files 1200]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/: _timing, git_deploy

from _installed import install
from _timing import REPO, Samples, measure, run, scratch, table
from compare import CHANGED, ENV, KEEP, settle_trash
from git_deploy import git, make_upstream

NOW, BEFORE = "now", "baseline"
COMMANDS = ("deploy", "rollback")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, metavar="CHECKOUT")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS") or 7))
    parser.add_argument("--files", type=int, default=1200)
    return parser.parse_args()


def main() -> int:
    args = arguments()
    checkouts = {NOW: REPO, BEFORE: args.baseline.resolve()}
    with scratch("before-after") as work:
        scripts = {
            name: install(checkout, work / f"install-{name}")
            for name, checkout in checkouts.items()
        }
        upstream = work / "upstream"
        make_upstream(upstream, args.files, largest=7_650)
        roots = {name: work / name for name in checkouts}

        def releases(name: str, *words: str) -> None:
            run([str(scripts[name]), *words, "--root", str(roots[name])], env=ENV)

        def commit(number: int) -> None:
            (upstream / CHANGED).write_text(f"export const round = {number};\n")
            git(upstream, "commit", "-q", "-am", f"round {number}")

        deploy = ("deploy", "--repo", upstream.as_uri(), "--keep", str(KEEP))
        for root in roots.values():
            root.mkdir()
        for number in range(KEEP):
            commit(-1 - number)
            for name in checkouts:
                releases(name, *deploy)
        samples = {c: Samples({NOW: [], BEFORE: []}, {NOW: [], BEFORE: []}) for c in COMMANDS}
        for number in range(2 * args.runs):
            command = "deploy" if number < args.runs else "rollback"
            if command == "deploy":
                commit(number)
            order = [NOW, BEFORE] if number % 2 == 0 else [BEFORE, NOW]
            for name in order:
                ids = sorted(p.name for p in (roots[name] / "releases").iterdir())
                live = os.readlink(roots[name] / "current").rpartition("/")[2]
                words = deploy if command == "deploy" else ("rollback", "--to", _other(ids, live))
                for root in roots.values():
                    settle_trash(root)
                wall, cpu = measure(lambda name=name, words=words: releases(name, *words))
                samples[command].add(name, wall, cpu)
    for command, values in samples.items():
        table(f"{command}, keep {KEEP}", values, [BEFORE])
    return 0


def _other(ids: list[str], live: str) -> str:
    """The newest release that is not live (rollback --to back and forth between two)."""
    return [i for i in ids if i != live][-1]


if __name__ == "__main__":
    sys.exit(main())
