"""`make bench`: run every bench/*.py script (names starting with `_` are helpers), in order,
then the comparison with Capistrano (bench/capistrano/compare.py), which says why it is skipped
when Capistrano or sshd is missing and cannot be installed.

Scripts run with their default number of rounds; set BENCH_RUNS=N to change it for the
scripts built on _timing.py. Stops at the first failure.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# Scripts that need an input only a person can give (artifact.py: a built release tree).
NEEDS_INPUT = {"artifact.py": "needs --tree RELEASE_DIR (a built release)"}


def scripts() -> list[list[str]]:
    """The argv of each benchmark after the interpreter."""
    own = sorted(
        p
        for p in HERE.glob("*.py")
        if not p.name.startswith("_") and p.name != "run_all.py" and p.name not in NEEDS_INPUT
    )
    peers = [[str(HERE / "capistrano" / "compare.py"), "--if-available"]]
    return [[str(p)] for p in own] + peers


def main() -> int:
    when = time.strftime("%Y-%m-%d %H:%M %Z")
    print(f"# releases benchmarks ({when}, python {sys.version.split()[0]})")
    for name, why in NEEDS_INPUT.items():
        print(f"# {name} left out: it {why}")
    for script in scripts():
        name = Path(script[0]).relative_to(HERE)
        print(f"\n# {name}", flush=True)
        code = subprocess.run([sys.executable, *script], check=False).returncode
        if code != 0:
            print(f"{name} failed with exit code {code}", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
