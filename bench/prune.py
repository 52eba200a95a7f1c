"""(d) Pruning releases that hold 50,000-file trees (node_modules-like).

Two commands, each run against a fresh root whose oldest release holds a 50,000-file tree:
`releases prune --keep 1` and `releases deploy --keep 1` (a tiny new release; the deploy then
prunes the big one). While each runs, this script polls the root every millisecond to see when
the lock is taken and released (`.releases/lock.info` exists exactly while the lock is held)
and when `current` changes. Deleting the pruned tree happens after the lock is released, so the
lock time is what another deploy or rollback would have to wait for; `rm -rf` of the same tree
is the floor for the deletion itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from _roots import root_with_releases, small_app, tree
from _timing import Samples, arguments, cli_argv, cli_env, median_ms, run, scratch, table

FILES = 50_000


def watch(argv: list[str], root: Path) -> dict[str, float]:
    """Run `argv`; return seconds from start to: lock taken, `current` switched, lock released,
    exit."""
    info = root / ".releases" / "lock.info"
    current = os.readlink(root / "current")
    marks: dict[str, float] = {}
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while proc.poll() is None:
        now = time.perf_counter() - started
        held = info.exists()
        if held and "lock taken" not in marks:
            marks["lock taken"] = now
        if not held and "lock taken" in marks and "lock released" not in marks:
            marks["lock released"] = now
        if "switched" not in marks and os.readlink(root / "current") != current:
            marks["switched"] = now
        time.sleep(0.001)
    marks["exit"] = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    marks.setdefault("lock released", marks["exit"])
    return marks


def big_root(path: Path, app: Path, node_modules: Path) -> Path:
    """Three releases (the newest current); the oldest holds a copy of `node_modules`."""
    root = root_with_releases(path, app, 3)
    oldest = sorted(root.releases.iterdir())[0]
    run(["cp", "-a", str(node_modules), str(oldest / "node_modules")])
    return root.path


def main() -> None:
    args = arguments(3, __doc__ or "")
    samples = Samples()
    with scratch("prune") as tmp:
        app = small_app(tmp / "app")
        node_modules = tree(tmp / "node_modules", FILES, per_dir=50, size=512)
        for attempt in range(args.runs):
            root = big_root(tmp / f"prune{attempt}", app, node_modules)
            marks = watch(cli_argv("prune", "--root", str(root), "--keep", "1"), root)
            samples.add("prune: whole command", marks["exit"])
            samples.add("prune: lock held", marks["lock released"] - marks["lock taken"])

            root = big_root(tmp / f"deploy{attempt}", app, node_modules)
            argv = cli_argv("deploy", "--root", str(root), "--source", str(app), "--keep", "1")
            marks = watch(argv, root)
            samples.add("deploy: whole command", marks["exit"])
            samples.add("deploy: until current switched", marks["switched"])
            samples.add("deploy: lock held", marks["lock released"] - marks["lock taken"])

            copy = tmp / "floor"
            run(["cp", "-a", str(node_modules), str(copy)])
            started = time.perf_counter()
            run(["rm", "-rf", str(copy)])
            samples.add("rm -rf (floor)", time.perf_counter() - started)
            for leftover in tmp.glob("prune*"), tmp.glob("deploy*"):
                for path in leftover:
                    shutil.rmtree(path, ignore_errors=True)
    table(
        f"pruning a release holding {FILES:,} files",
        samples,
        ["rm -rf (floor)"],
        note="the lock is released before the pruned tree is deleted",
    )
    held = median_ms(samples.wall["deploy: lock held"])
    print(f"deploy holds the lock {held:.0f} ms; deletion runs after it is released")


if __name__ == "__main__":
    main()
