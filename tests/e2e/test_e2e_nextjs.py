"""End to end: a real Next.js app under PM2 (cluster, 2 workers) behind nginx, deployed with
`releases` twice and rolled back once while constant load runs, loses no request.

Needs Node.js 20 + npm and nginx (`make test` installs nginx: scripts/need-system.sh); npm
packages come from the registry into the test's own directory (PM2_HOME included), so nothing
of the user's is touched.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port
from loadgen import Outcome, summarize  # examples/ is on pytest's pythonpath
from nextjs_demo import releases_steps, run_under_load, setup_releases
from nextjs_stack import App, Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """v1 deployed with `releases`, running in its own PM2 and nginx; both stopped afterwards."""
    for tool in ("node", "npm", "nginx"):
        assert shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists(), (
            f"{tool} is missing: run `make test` (scripts/need-system.sh installs it, or says how)"
        )
    app = App("e2e-nextjs", app_port=free_port(), proxy_port=free_port())
    running = Stack(tmp_path / "work", (app,))
    try:
        setup_releases(running)
        running.nginx_start()
        yield running
    finally:
        running.stop()


def failures(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if not o.ok]


def test_deploy_deploy_rollback_under_load_fails_no_request(stack: Stack) -> None:
    """Deploy v2, deploy v3, roll back, all under constant load (pages, API, and the page
    assets a browser would fetch, on keep-alive and fresh connections): at least 2,000
    requests, none failed (no non-2xx, no connection error, no timeout), and once each step
    has returned only the expected build answers."""
    app = stack.apps[0]
    steps = releases_steps(stack)
    # ~75 requests/s, with the load held 8 s around each step: deploys that reuse node_modules
    # take only seconds, and the run must still send well over 2,000 requests.
    run = run_under_load("releases", app.proxy_port, steps, rate=15.0, settle=8.0)

    assert len(run.outcomes) >= 2000
    failed = failures(run.outcomes)
    assert failed == [], f"{len(failed)} failed, first: {failed[:5]}"
    assert run.answered_after == {step.name: step.expect for step in steps}
    for step in steps:
        after = summarize(run.outcomes, f"after {step.name}", ("page", "api"))
        assert after.sent > 0
        assert set(after.versions) == {step.expect}, (step.name, after.versions)
    answered = summarize(run.outcomes, "all", ("page", "api")).versions
    assert {"v1", "v2", "v3"} <= set(answered)
    assert summarize(run.outcomes, "all", ("asset",)).sent > 100
    # nginx could read the shared assets itself (no permission or config trouble hidden by
    # its fallback to the app).
    assert "[crit]" not in (stack.work / "nginx" / "error.log").read_text()
