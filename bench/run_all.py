"""`make bench`: run every bench/*.py script (names starting with `_` are helpers), in order.

Scripts run with their default number of rounds; set BENCH_RUNS=N to change it for the
scripts built on _timing.py. Stops at the first failure.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts() -> list[Path]:
    return sorted(
        p for p in HERE.glob("*.py") if not p.name.startswith("_") and p.name != "run_all.py"
    )


def main() -> int:
    when = time.strftime("%Y-%m-%d %H:%M %Z")
    print(f"# releases benchmarks ({when}, python {sys.version.split()[0]})")
    for script in scripts():
        print(f"\n# {script.name}", flush=True)
        code = subprocess.run([sys.executable, str(script)], check=False).returncode
        if code != 0:
            print(f"{script.name} failed with exit code {code}", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
