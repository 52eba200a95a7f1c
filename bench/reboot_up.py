"""Blue-green after a reboot: from "PM2 back" (`pm2 kill`, then `pm2 resurrect` returned, with
nothing of ours in it) until nginx serves the live release again, when the boot hook's command
(`releases up --print-boot-hook`'s ExecStart, run from / with only the unit's environment) is
run at that moment. A real PM2 and a user-owned nginx (tests/bgstack.py), a live release and a
warm one, both brought back per run.

    .venv/bin/python bench/reboot_up.py --runs 7
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _timing import REPO, arguments, scratch

sys.path.insert(0, str(REPO / "tests"))

from bgstack import Stack, boot_hook, deploy, get, running_stack
from helpers import run_cli

POLL = 0.01


def serving(s: Stack, live: str) -> bool:
    try:
        status, release, _ = get(s.port)
    except OSError:
        return False
    return status == 200 and release == live


def one_reboot(s: Stack, command: list[str], env: dict[str, str], live: str) -> tuple[float, float]:
    """Seconds from PM2 back to the site serving `live`, and until the hook command returned."""
    s.pm2_run("kill")
    s.pm2_run("resurrect")
    assert not serving(s, live), "the site must be down before the boot hook runs"
    start = time.monotonic()
    hook = subprocess.Popen(
        command, cwd="/", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    while not serving(s, live):
        if hook.poll() is not None and not serving(s, live):
            raise RuntimeError(f"the boot hook ended, the site is down: {hook.communicate()[1]}")
        time.sleep(POLL)
    served = time.monotonic() - start
    _, stderr = hook.communicate(timeout=300)
    if hook.returncode != 0:
        raise RuntimeError(f"the boot hook failed: {stderr}")
    return served, time.monotonic() - start


def main() -> None:
    args = arguments(5, __doc__ or "")
    with scratch("reboot-up") as work, running_stack(work, run_cli) as s:
        deploy(run_cli, s)
        live = deploy(run_cli, s)  # the first one stays warm: two apps to bring back
        command, env, _ = boot_hook(run_cli, s)
        served, returned = [], []
        for _ in range(args.runs):
            a, b = one_reboot(s, command, env, live)
            served.append(a)
            returned.append(b)
    print(f"\n## After a reboot: `releases up` (live + 1 warm app), {args.runs} runs")
    for label, values in (("PM2 back -> site serving", served), ("hook returned", returned)):
        print(
            f"{label:26} median {statistics.median(values):.2f} s"
            f"  (min {min(values):.2f}, max {max(values):.2f})"
        )


if __name__ == "__main__":
    main()
