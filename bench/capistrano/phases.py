"""Where the time of `releases deploy --repo` and `releases rollback` goes, phase by phase, on
the repository of compare.py (1,200 files, 4.8 MB, keep 5), so the speed work can be planned.

Each round commits a one-file change, then runs `releases deploy --repo URL --keep 5` and
`releases rollback` as `python -X importtime _phase_probe.py ...` (the CLI in a process of its
own, with a timer around each phase, see _phase_probe.py) and splits the process's wall time:
  interpreter start  spawn to the first line of the probe (fork/exec, python, site)
  imports            `import releases_cli.cli.app` (start-up) and the imports done while the
                     command runs (lazy: gitpython, filelock...), by package, from -X importtime
  phases             lock, recovery, state read, fetch, export, size, sync, meta, switch,
                     history, in-use scan, prune, deletion (what of it the command itself
                     waits for: the hand-over to the detached cleaner) (self times, lazy
                     imports taken out)
  cli                the rest of the command: option parsing, config, output, glue
  exit               the command's return to the process's end (the JSON of the probe, then
                     os._exit as the entry point does, or the interpreter's shutdown)
Prints the medians over the rounds. The timers themselves cost a few microseconds a phase;
-X importtime adds about 5% to import times.

    python bench/capistrano/phases.py [--runs 7] [--files 1200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/: _timing, git_deploy

from _timing import PYTHON, cli_argv, cli_env, run, scratch
from git_deploy import git, make_upstream

PROBE = Path(__file__).resolve().parent / "_phase_probe.py"
KEEP = 5
PHASE_ORDER = (
    "lock",
    "recovery",
    "state read",
    "fetch",
    "export",
    "size",
    "sync",
    "meta",
    "switch",
    "history",
    "in-use scan",
    "prune",
    "deletion",
)
Row = dict[str, float]  # label -> seconds, one process


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    runs = int(os.environ.get("BENCH_RUNS") or 7)
    parser.add_argument("--runs", type=int, default=runs, help="rounds (default 7)")
    parser.add_argument("--files", type=int, default=1200, help="files in the repository")
    return parser.parse_args()


def _package(name: str) -> str:
    root = name.partition(".")[0]
    known = {"releases_cli", "typer", "click", "git", "gitdb", "smmap", "filelock", "humanize"}
    return root if root in known else "stdlib and other"


def lazy_imports(stderr: str) -> tuple[dict[str, float], dict[str, float]]:
    """From the probe's stderr: import seconds by package, and by the phase they ran in (each
    -X importtime line's self time, attributed to the innermost phase open at that moment)."""
    by_package: dict[str, float] = defaultdict(float)
    by_phase: dict[str, float] = defaultdict(float)
    phases: list[str] = ["interpreter start"]
    for line in stderr.splitlines():
        if line.startswith("@@ enter "):
            phases.append(line.removeprefix("@@ enter "))
        elif line.startswith("@@ leave "):
            phases.pop()
        elif line.startswith("import time:") and "self [us]" not in line:
            self_us, _cumulative, name = line.removeprefix("import time:").split("|")
            seconds = int(self_us) / 1e6
            if phases[-1] == "interpreter start":
                continue  # python's own (site) and the probe's
            where = "start-up" if phases[-1] == "start-up" else "lazy"
            by_package[f"{where}: {_package(name.strip())}"] += seconds
            by_phase[phases[-1]] += seconds
    return by_package, by_phase


def probe(args: list[str], work: Path) -> Row:
    """One command under the probe: its wall time split into the rows of the table."""
    out = work / "probe.json"
    argv = [PYTHON, "-X", "importtime", str(PROBE), str(out), *args]
    spawned = time.perf_counter()
    done = subprocess.run(argv, env=cli_env(), capture_output=True, text=True, check=False)
    ended = time.perf_counter()
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    times = json.loads(out.read_text())
    packages, in_phase = lazy_imports(done.stderr)
    row: Row = {"total": ended - spawned}
    row["interpreter start"] = times["started"] - spawned
    row |= packages
    row["probe set-up"] = times["ready"] - times["started"]
    row["start-up imports"] = times["imported"] - times["ready"]
    for label, seconds in times["phases"].items():
        row[label] = seconds - in_phase.get(label, 0.0)
    main = times["finished"] - times["imported"]
    row["cli"] = main - sum(times["phases"].values()) - in_phase.get("cli", 0.0)
    row["lazy imports"] = sum(v for k, v in in_phase.items() if k != "start-up")
    row["exit"] = ended - times["finished"]
    for name in times["missing"]:
        print(f"warning: phase {name} not found in the package (renamed?)", file=sys.stderr)
    return row


def print_table(command: str, rows: list[Row]) -> None:
    labels = {label for row in rows for label in row}

    def median(label: str) -> float:
        return statistics.median(row.get(label, 0.0) for row in rows) * 1000

    total = median("total")
    print(f"\n## {command} (medians of {len(rows)} runs; load average {_load()})")
    print(f"{'':34}{'ms':>8}{'share':>8}")

    def line(label: str, shown: str | None = None) -> None:
        ms = median(label)
        print(f"{shown or label:34}{ms:8.1f}{ms / total:8.0%}")

    line("interpreter start")
    line("probe set-up")
    line("start-up imports")
    for label in sorted(k for k in labels if k.startswith("start-up: ")):
        line(label, "  " + label.removeprefix("start-up: "))
    line("lazy imports")
    for label in sorted(k for k in labels if k.startswith("lazy: ")):
        line(label, "  " + label.removeprefix("lazy: "))
    for label in PHASE_ORDER:
        if label in labels:
            line(label)
    line("cli")
    line("exit")
    print(f"{'total (wall, spawn to exit)':34}{total:8.1f}")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    args = arguments()
    with scratch("phases") as work:
        upstream, root = work / "upstream", work / "root"
        make_upstream(upstream, args.files, largest=7_650)
        root.mkdir()
        deploy = ["deploy", "--repo", upstream.as_uri(), "--keep", str(KEEP), "--root", str(root)]
        rollback = ["rollback", "--root", str(root)]
        for number in range(KEEP + 1):  # full to keep: every timed deploy prunes one
            (upstream / "fill").write_text(str(number))
            git(upstream, "add", "-A")
            git(upstream, "commit", "-q", "-m", f"fill {number}")
            run(cli_argv(*deploy))
        rows: dict[str, list[Row]] = {"deploy": [], "rollback": []}
        for number in range(args.runs):
            (upstream / "fill").write_text(f"round {number}")
            git(upstream, "commit", "-q", "-am", f"round {number}")
            rows["deploy"].append(probe(deploy, work))
            rows["rollback"].append(probe(rollback, work))
    print(f"repository: {args.files} files; keep {KEEP}; {os.cpu_count()} cores")
    print_table("releases deploy --repo URL --keep 5", rows["deploy"])
    print_table("releases rollback", rows["rollback"])


if __name__ == "__main__":
    main()
