"""End to end, blue-green: the real Next.js example, PM2 (cluster) and nginx (the server block
`releases nginx` prints), under constant load: deploy, deploy, rollback to the warm release,
rollback after the grace (cold). No request fails, and the expected build answers after each
step.

The load generator retries a request once on a *reused* keep-alive connection that nginx closed
before answering (as browsers and curl do: a reload closes idle client connections); those are
counted apart (`retried`) and printed, never hidden as successes of the first try: a retry that
fails again is a failure.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from loadgen import Load, summarize
from nextapp import bluegreen_v1
from nextjs_bluegreen import BlueGreen

pytestmark = pytest.mark.e2e

GRACE = 20.0


@pytest.fixture
def bluegreen(tmp_path: Path) -> Iterator[BlueGreen]:
    for tool in ("node", "npm"):
        assert shutil.which(tool), f"{tool} is missing"
    with bluegreen_v1(tmp_path / "work", grace=f"{GRACE:g}s") as bg:
        yield bg


def version(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/version", timeout=5) as response:
        return str(json.loads(response.read())["version"])


def test_deploy_deploy_rollback_warm_then_cold_under_load(bluegreen: BlueGreen) -> None:
    """Deploy v2 (v1 stays warm), roll back to the warm v1 (no restart), wait out the grace
    and reap (v2 drained and stopped), roll back to v2 again (cold: started, checked, flipped):
    pages, API and assets under load on keep-alive and fresh connections, zero failed."""
    port = bluegreen.proxy_port
    load = Load("127.0.0.1", port, rate=10.0, browse_rate=1.0, retry_stale=True)
    answered: dict[str, str] = {}
    load.mark("before")
    load.start()
    try:
        time.sleep(3)
        load.mark("deploy v2")
        bluegreen.deploy("v2")
        v2 = bluegreen.current()
        answered["deploy v2"] = version(port)
        load.mark("after deploy v2")
        time.sleep(3)
        load.mark("rollback warm")
        warm_seconds = bluegreen.rollback()
        answered["rollback warm"] = version(port)
        load.mark("after rollback warm")
        time.sleep(GRACE + 1)  # v2's grace runs out (a precondition, not a measurement)
        load.mark("reap")
        bluegreen.reap()
        answered["reap"] = version(port)
        load.mark("rollback cold")
        cold_seconds = bluegreen.rollback(to=v2)
        answered["rollback cold"] = version(port)
        load.mark("after rollback cold")
        time.sleep(3)
    finally:
        outcomes = load.stop()

    everything = summarize(outcomes, "all", ("page", "api", "asset"))
    print(
        f"\nblue-green: sent {everything.sent}, failed {everything.failed}, "
        f"retried on a reused connection {everything.retried}; "
        f"serving after a warm rollback {warm_seconds:.2f}s, cold {cold_seconds:.2f}s; "
        f"{bluegreen.log}"
    )
    failed = [o for o in outcomes if not o.ok]
    assert failed == [], f"{len(failed)} failed, first: {failed[:5]}"
    assert answered == {
        "deploy v2": "v2",
        "rollback warm": "v1",
        "reap": "v1",
        "rollback cold": "v2",
    }
    steps = (
        ("after deploy v2", "v2"),
        ("after rollback warm", "v1"),
        ("after rollback cold", "v2"),
    )
    for phase, expect in steps:
        after = summarize(outcomes, phase, ("page", "api"))
        assert after.sent > 0 and set(after.versions) == {expect}, (phase, after.versions)
    assert summarize(outcomes, "all", ("asset",)).sent > 50
