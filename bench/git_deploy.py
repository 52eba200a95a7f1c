"""Benchmark: `releases deploy --repo` (no build) against `git archive | tar -x` from the same
mirror, measured in the same run. Target: a ratio of at most 1.5.

Each round first commits a one-file change upstream (untimed), then times
  deploy: the real CLI as a subprocess (python start-up, fetch of the new objects, resolve,
          archive + extraction, REVISION, meta, switch) - what a user waits for;
  floor:  `git -C .releases/repo.git archive <sha> | tar -x -C <empty dir>`, same commit;
in alternating order, and prints the medians and their ratio.

    python bench/git_deploy.py [--files 5000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENV = {
    **os.environ,
    "PYTHONPATH": str(REPO),
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


def make_upstream(path: Path, files: int, largest: int = 16_384) -> None:
    """An app-like tree: nested directories, text files of 200 B - `largest` B (seeded)."""
    rng = random.Random(5000)
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for i in range(files):
        directory = path / f"src/area{i % 20:02}/mod{i % 250:03}"
        directory.mkdir(parents=True, exist_ok=True)
        line = f"export const value{i} = {rng.random()!r};\n"
        (directory / f"file{i:05}.ts").write_text(line * (rng.randint(200, largest) // len(line)))
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", f"{files} files")


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{command} failed ({done.returncode}): {done.stderr}")
    return seconds


def timed_floor(mirror: Path, sha: str, dest: Path, durable: bool = False) -> float:
    """`git archive SHA | tar -x -C DEST`, as a real two-process pipeline (no shell); with
    `durable`, followed by `sync -f DEST` (a deploy fsyncs its meta and history, which on ext4
    also flushes the release's freshly written files; tar alone leaves them in the page cache)."""
    started = time.perf_counter()
    archive = subprocess.Popen(["git", "-C", str(mirror), "archive", sha], stdout=subprocess.PIPE)
    extract = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=False)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0 or extract.returncode != 0:
        sys.exit("git archive | tar -x failed")
    if durable:
        subprocess.run(["sync", "-f", str(dest)], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_RUNS") or 7))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="releases-bench-git-"))
    try:
        upstream, root = work / "upstream", work / "root"
        make_upstream(upstream, args.files)
        root.mkdir()
        deploy = [sys.executable, "-m", "releases_cli", "deploy", "--root", str(root)]
        deploy += ["--repo", upstream.as_uri(), "--keep", str(args.rounds + 2)]
        first = timed(deploy)  # creates the mirror: a full clone, not what is compared
        mirror = root / ".releases" / "repo.git"
        deploys, floors, durables = [], [], []
        in_mirror = git(upstream, "rev-parse", "HEAD")  # the floor can only archive fetched commits
        for round_ in range(args.rounds):
            changed = upstream / "src" / "area00" / "mod000" / "file00000.ts"
            changed.write_text(f"export const round = {round_};\n")
            git(upstream, "commit", "-q", "-am", f"round {round_}")
            sha = git(upstream, "rev-parse", "HEAD")
            floor_dir = work / f"floor{round_}"
            floor_dir.mkdir()
            durable_dir = work / f"durable{round_}"
            durable_dir.mkdir()
            if round_ % 2 == 0:
                deploys.append(timed(deploy))
                floors.append(timed_floor(mirror, sha, floor_dir))
                durables.append(timed_floor(mirror, sha, durable_dir, durable=True))
            else:  # the floors first: they export the previous commit (one file differs)
                durables.append(timed_floor(mirror, in_mirror, durable_dir, durable=True))
                floors.append(timed_floor(mirror, in_mirror, floor_dir))
                deploys.append(timed(deploy))
            in_mirror = sha
            current = root / "current"
            assert (current / "REVISION").read_text().strip() == sha, "deploy did not go live"
            assert (floor_dir / changed.relative_to(upstream)).is_file(), "floor exported nothing"
            shutil.rmtree(floor_dir)
            shutil.rmtree(durable_dir)
        deploy_median, floor_median = statistics.median(deploys), statistics.median(floors)
        print(
            f"git deploy benchmark: {args.files} files, {args.rounds} rounds (one-file change each)"
        )
        print(f"  first deploy (creates the mirror): {first:.3f}s")
        print(f"  releases deploy --repo (median):   {deploy_median:.3f}s  {_all(deploys)}")
        print(f"  git archive | tar -x (median):     {floor_median:.3f}s  {_all(floors)}")
        durable_median = statistics.median(durables)
        print(f"  ... && sync -f (median):           {durable_median:.3f}s  {_all(durables)}")
        print(f"  ratio: {deploy_median / floor_median:.2f}x (target <= 1.5x)")
        print(f"  ratio against the durable floor: {deploy_median / durable_median:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _all(values: list[float]) -> str:
    return "[" + " ".join(f"{v:.3f}" for v in values) + "]"


if __name__ == "__main__":
    main()
