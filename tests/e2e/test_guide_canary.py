"""docs/canary.md, run as written on the blue-green guide's user-owned nginx (path B of
docs/blue-green.md, whose setup block runs first, by the same machinery as
tests/e2e/test_guide_bluegreen.py): the canary guide's setup block writes nginx's config again
with the access log and the bucket cookie and reloads it, then its by-hand block deploys a
canary with --detach and promotes it, deploys another and aborts it. Real PM2, nginx and
Next.js builds of the example; only the variables the guides name are set.

Also the figures of that block: the detached deploy, `promote` and `abort`, timed from bash's
trace (printed with -s; never asserted).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import REPO, current_id, history_of
from test_guide_bluegreen import Guide, open_guide

pytestmark = pytest.mark.e2e

CANARY_GUIDE = REPO / "docs" / "canary.md"
APP = str(REPO / "examples" / "nextjs")


@pytest.fixture
def guide() -> Iterator[Guide]:
    with open_guide() as g:
        yield g


def releases(guide: Guide, *args: str) -> str:
    done = subprocess.run(
        ["releases", *args, "--root", str(guide.root)],
        env=guide.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def watchers(root: Path) -> list[str]:
    """The command lines of processes of this checkout's CLI still working on `root` (a
    detached watcher): none once its canary is promoted or aborted."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [w.decode(errors="replace") for w in argv]
        if str(root) in words and any("releases_cli" in w for w in words):
            found.append(" ".join(words))
    return found


def test_canary_guide_runs_as_written(guide: Guide) -> None:
    """Setup: nginx runs the config with the canary lines and logs to the deploy root. By
    hand: the first canary is promoted (live, `current`, served by nginx), the second aborted
    (marked failed, the first still live), both by hand; no canary is left in `status`, and
    no watcher process is left behind."""
    guide.run("guide-setup")
    stable = current_id(guide.root)
    guide.run("canary-setup", CANARY_GUIDE, APP=APP)
    conf = (guide.ngx / "nginx.conf").read_text()
    log = guide.root / ".releases" / "serve" / "access.log"
    assert str(log) in conf and "_canary_cookie" in conf, conf
    guide.served("/api/version")
    assert log.stat().st_size > 0, "nginx logs each request where the analysis reads"

    out, steps = guide.run("canary-hand", CANARY_GUIDE, APP=APP)
    started = history_of(guide.root, "canary_started")
    assert [e["stable"] for e in started] == [stable, started[0]["id"]]
    first, second = (e["id"] for e in started)
    (promoted,) = history_of(guide.root, "canary_promoted")
    (aborted,) = history_of(guide.root, "canary_aborted")
    assert (promoted["id"], promoted["automatic"]) == (first, False)
    assert (aborted["id"], aborted["automatic"]) == (second, False)
    assert current_id(guide.root) == first
    assert json.loads(guide.served("/api/version")[2])["release"] == first
    shown = [line for line in out.splitlines() if first in line and "10%" in line]
    assert shown, f"`releases status` shows the canary and its share:\n{out}"
    status = json.loads(releases(guide, "status", "--json"))
    assert status["current"] == first and not status.get("canary")
    listed = json.loads(releases(guide, "list", "--json"))["releases"]
    assert next(r["status"] for r in listed if r["id"] == second) == "failed"
    deadline = time.monotonic() + 60
    while watchers(guide.root) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert watchers(guide.root) == []

    def took(prefix: str) -> list[float]:
        return [round(t, 2) for cmd, t in steps if cmd.startswith(prefix)]

    print(
        f"\ncanary guide: deploy --detach {took('releases deploy')} s, status "
        f"{took('releases status')} s, promote {took('releases promote')} s, abort "
        f"{took('releases abort')} s"
    )
