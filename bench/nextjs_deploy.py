"""A whole Next.js deploy, stage by stage: first deploy, then a one-line change, beside the old
in-place method (rm -rf .next; npm ci; next build) on the same app.

Deploys examples/nextjs (its releases.toml build commands; restart and health left out, since
PM2 need not be installed) or, when that is absent, tests/fixtures/nextjs-app (the preset's
commands). Each round: a fresh deploy root, `releases deploy` twice (the second after a
one-line change to app/page.js), then the in-place method twice in a fresh copy. Stage times
come from the deploy's own report lines, timestamped as they arrive:

    code          start -> "preset nextjs" (startup, lock, copy of the code, shared links)
    dependencies  linking node_modules ("dependencies:" line) or the install command's run
    build         .next/cache copy + the build commands + size + sync (-> "complete:")
    switch        "complete:" -> exit (switch `current`, history, prune)
    reload        the restart command, when one is configured (here: n/a)

Disk: `du -sk` of the first release, and of both releases in one `du` call minus the first
(du counts a hardlinked file once), i.e. what the extra release costs.

    .venv/bin/python bench/nextjs_deploy.py --runs 1     (BENCH_RUNS also sets it)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from releases_cli.core.compat import load_toml

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "nextjs"
FIXTURE = REPO / "tests" / "fixtures" / "nextjs-app"
ENV = {
    **{k: v for k, v in os.environ.items() if k != "RELEASES_ROOT"},
    "PYTHONPATH": str(REPO),
    "NO_COLOR": "1",
    "NEXT_TELEMETRY_DISABLED": "1",
    "npm_config_audit": "false",
    "npm_config_fund": "false",
    "npm_config_update_notifier": "false",
}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")
STAGES = ("code", "dependencies", "build", "switch", "reload", "total")
LEFT_OUT = {".git", "node_modules", ".next"}


def app_and_config() -> tuple[Path, str]:
    """The app to deploy and the releases.toml for it (its build commands only)."""
    if not (EXAMPLE / "package.json").is_file():
        return FIXTURE, ""
    commands = load_toml((EXAMPLE / "releases.toml").read_text()).get("build", {}).get("commands")
    if not commands:
        return EXAMPLE, ""
    # A JSON string is a valid TOML basic string.
    return EXAMPLE, f"[build]\ncommands = [{', '.join(json.dumps(c) for c in commands)}]\n"


def timed_deploy(root: Path, app: Path) -> dict[str, float]:
    """Run `releases deploy`, timestamp its report lines, and split the run into stages."""
    argv = [sys.executable, "-m", "releases_cli", "deploy", "--root", str(root)]
    started = time.monotonic()
    proc = subprocess.Popen(
        [*argv, "--source", str(app)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    marks: list[tuple[float, str]] = []
    lines = []
    for line in proc.stdout:
        # Progress lines start with a UTC timestamp (whole seconds): timed on arrival instead.
        marks.append((time.monotonic() - started, STAMP.sub("", line, count=1)))
        lines.append(line)
    code = proc.wait()
    total = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"deploy failed ({code}):\n{''.join(lines[-30:])}")
    return stages(marks, total)


def stages(marks: list[tuple[float, str]], total: float) -> dict[str, float]:
    def at(prefix: str, after: float = 0.0) -> float | None:
        return next((t for t, line in marks if line.startswith(prefix) and t >= after), None)

    preset = at("preset nextjs")
    complete = at("complete:")
    if preset is None or complete is None:
        raise SystemExit("deploy output lacks the preset/complete lines: not a Next.js deploy?")
    linked = at("dependencies:")
    if linked is not None:
        deps = linked - preset
    else:  # installed: from its "build: $" line to the next command's
        install = next(t for t, line in marks if line.startswith("build: $") and t >= preset)
        following = [t for t, line in marks if line.startswith("build: $") and t > install]
        deps = (following[0] if following else complete) - install
    restart = at("restart: $")
    reload = None if restart is None else total - restart
    return {
        "code": preset,
        "dependencies": deps,
        "build": complete - preset - deps,
        "switch": (restart if restart is not None else total) - complete,
        "reload": float("nan") if reload is None else reload,
        "total": total,
    }


def in_place(app: Path) -> dict[str, float]:
    """The old way, in the app's own directory: rm -rf .next; npm ci; next build."""
    started = time.monotonic()
    shutil.rmtree(app / ".next", ignore_errors=True)
    subprocess.run(["npm", "ci"], cwd=app, env=ENV, check=True, capture_output=True)
    installed = time.monotonic()
    subprocess.run(
        ["node", "node_modules/next/dist/bin/next", "build"],
        cwd=app,
        env=ENV,
        check=True,
        capture_output=True,
    )
    done = time.monotonic()
    return {
        "code": float("nan"),
        "dependencies": installed - started,
        "build": done - installed,
        "switch": float("nan"),
        "reload": float("nan"),
        "total": done - started,
    }


def du_kib(*paths: Path) -> int:
    """`du -sk` over all paths in one call: hardlinked files counted once, summed."""
    out = subprocess.run(["du", "-sk", *map(str, paths)], check=True, capture_output=True)
    return sum(int(line.split()[0]) for line in out.stdout.decode().splitlines())


def one_line_change(app: Path, n: int) -> None:
    with (app / "app" / "page.js").open("a") as page:
        page.write(f"// one-line change {n}\n")


@dataclass(frozen=True)
class Round:
    times: dict[str, dict[str, float]]  # "first"/"second"/"old_first"/"old_second" -> stages
    first_kib: int
    extra_kib: int


def round_trip(work: Path, app_src: Path, config: str, n: int) -> Round:
    app = work / f"app-{n}"
    shutil.copytree(app_src, app, ignore=shutil.ignore_patterns(*LEFT_OUT))
    root = work / f"root-{n}"
    root.mkdir()
    subprocess.run(
        [sys.executable, "-m", "releases_cli", "init", "--root", str(root)],
        env=ENV,
        check=True,
        capture_output=True,
    )
    if config:
        (root / "releases.toml").write_text(config)
    first = timed_deploy(root, app)
    one_line_change(app, n)
    second = timed_deploy(root, app)
    ids = sorted(p.name for p in (root / "releases").iterdir())
    first_release, second_release = (root / "releases" / i for i in ids[-2:])
    first_kib = du_kib(first_release)
    extra_kib = du_kib(first_release, second_release) - first_kib
    old = work / f"in-place-{n}"
    shutil.copytree(app_src, old, ignore=shutil.ignore_patterns(*LEFT_OUT))
    old_first = in_place(old)
    one_line_change(old, n)
    old_second = in_place(old)
    shutil.rmtree(root)
    shutil.rmtree(old)
    times = {"first": first, "second": second, "old_first": old_first, "old_second": old_second}
    return Round(times, first_kib, extra_kib)


def median(rounds: list[Round], key: str, stage: str) -> float:
    return float(statistics.median(r.times[key][stage] for r in rounds))


def cell(value: float) -> str:
    return "n/a" if value != value else f"{value:6.2f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "1")))
    args = parser.parse_args()
    app_src, config = app_and_config()
    print(f"app: {app_src.relative_to(REPO)}; {args.runs} round(s), medians")
    rounds = []
    with tempfile.TemporaryDirectory(prefix="releases-bench-") as tmp:
        for n in range(args.runs):
            rounds.append(round_trip(Path(tmp), app_src, config, n))
    header = ("stage", "releases 1st", "releases 2nd", "in-place 1st", "in-place 2nd")
    print("  ".join(f"{h:>13}" for h in header))
    for stage in STAGES:
        row = [median(rounds, key, stage) for key in ("first", "second", "old_first", "old_second")]
        print(f"{stage:>13}  " + "  ".join(f"{cell(v):>13}" for v in row))
    first, second = median(rounds, "first", "total"), median(rounds, "second", "total")
    old_second = median(rounds, "old_second", "total")
    first_kib = statistics.median(r.first_kib for r in rounds)
    extra_kib = statistics.median(r.extra_kib for r in rounds)
    print(f"second deploy / first deploy: {second / first:.0%} (target <= 40%)")
    print(f"second deploy / in-place rebuild: {second / old_second:.0%}")
    print(
        f"disk: first release {first_kib / 1024:.0f} MiB; each extra release "
        f"{extra_kib / 1024:.1f} MiB = {extra_kib / first_kib:.1%} of it (target <= 10%)"
    )


if __name__ == "__main__":
    main()
