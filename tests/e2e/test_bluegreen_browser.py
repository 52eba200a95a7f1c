"""Version skew closed in a real browser, blue-green: headless Chromium keeps a page of build A
(v1) open while build B (v2) is deployed and goes live; A stays warm for the grace. The open
page then runs its Server Action and navigates client-side to the lazy page: nginx routes the
action and the RSC request by A's deployment id to A's app, and A's lazy chunk loads. The action
answers from v1, the lazy page is v1's, nothing failed; a new visitor gets v2.

Needs /usr/bin/chromium and playwright-core (tests/browser, installed with `npm ci` when
missing), Node.js, npm and nginx. Slow (two real `next build`s): marked e2e.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from nextapp import bluegreen_v1, browser_driver
from nextjs_bluegreen import BlueGreen

pytestmark = pytest.mark.e2e


@pytest.fixture
def bluegreen(tmp_path: Path) -> Iterator[BlueGreen]:
    browser_driver("bluegreen.mjs")  # playwright-core installed before the stack starts
    with bluegreen_v1(tmp_path / "work", instances=1) as bg:
        yield bg


def test_open_page_of_the_old_build_keeps_working_during_the_grace(
    bluegreen: BlueGreen, tmp_path: Path
) -> None:
    """A page of v1 open across the switch to v2 completes its Server Action on v1 and loads
    v1's lazy page and chunk, without a hard reload or a failed request."""
    url = f"http://127.0.0.1:{bluegreen.proxy_port}/"
    driver = subprocess.Popen(
        ["node", str(browser_driver("bluegreen.mjs")), url, str(tmp_path / "chromium")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert driver.stdout is not None and driver.stdin is not None
        opened = json.loads(driver.stdout.readline() or "{}")
        a = bluegreen.current()
        print(f"\nbrowser opened: {opened}")
        assert opened == {"opened": "v1", "deploymentId": a}, opened
        bluegreen.deploy("v2")
        assert bluegreen.current() != a
        driver.stdin.write("go\n")
        driver.stdin.flush()
        result = json.loads(driver.stdout.readline() or "{}")
        driver.wait(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    print(f"\nbrowser: {result}")
    assert result["action"] is not None and result["action"].startswith("v1 "), result
    assert result["lazy"] == "Lazy page (version v1)" and result["chart"], result
    assert result["failed"] == [] and result["hardLoads"] == 0, result
    with urllib.request.urlopen(f"{url}api/version", timeout=5) as response:
        assert json.loads(response.read())["version"] == "v2"
