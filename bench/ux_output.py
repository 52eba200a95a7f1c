"""What rendering progress costs: a deploy whose build prints many lines, run with --quiet,
through a pipe (timestamped lines) and on a pseudo-terminal (live line redrawn around every
output line). Prints the median wall time of each and its ratio to --quiet, measured in the
same run.

    .venv/bin/python bench/ux_output.py [LINES] [RUNS]
"""

from __future__ import annotations

import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _cmd(root: Path, app: Path, lines: int, *extra: str) -> list[str]:
    build = f"seq 1 {lines}"
    return [
        sys.executable,
        "-m",
        "releases_cli",
        "deploy",
        "--root",
        str(root),
        "--source",
        str(app),
        "--build",
        build,
        "--keep",
        "2",
        *extra,
    ]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RELEASES_ROOT", "NO_COLOR")}
    return {**env, "PYTHONPATH": str(REPO), "TERM": "xterm-256color"}


def run_pipe(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=_env(), capture_output=True, check=True)
    return time.perf_counter() - started


def run_pty(cmd: list[str]) -> float:
    master, slave = os.openpty()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=_env(), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            if not os.read(master, 1 << 16):
                break
        except OSError:
            break
    code = proc.wait()
    elapsed = time.perf_counter() - started
    os.close(master)
    assert code == 0, code
    return elapsed


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as tmp:
        root, app = Path(tmp, "root"), Path(tmp, "app")
        root.mkdir()
        app.mkdir()
        (app / "index.html").write_text("hello\n")
        modes = {
            "quiet": lambda: run_pipe(_cmd(root, app, lines, "--quiet")),
            "pipe": lambda: run_pipe(_cmd(root, app, lines)),
            "pty": lambda: run_pty(_cmd(root, app, lines)),
        }
        times: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(runs):  # interleaved, so load changes hit every mode alike
            for name, run in modes.items():
                times[name].append(run())
    base = statistics.median(times["quiet"])
    print(f"deploy with a build printing {lines} lines, median of {runs} runs:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:6s} {median * 1000:8.0f} ms   x{median / base:.2f} of quiet")


if __name__ == "__main__":
    main()
