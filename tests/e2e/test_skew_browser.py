"""Version skew in a real browser: headless Chromium keeps a page of build A open while build B
is deployed, switched to and served by a restarted `next start`; then the page's client-side
navigation loads a lazy `next/dynamic` chunk of build A. With `build.share_static` on, the chunk
is still served and the panel renders; with it off, the same steps end in a 404 and a
ChunkLoadError. Slow (four real `next build`s): marked e2e.

Needs /usr/bin/chromium (Debian's `chromium` package; `make test` installs it) and playwright-core
from tests/browser/package.json (installed here with `npm ci` when missing).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import Cli, deploy_ok, free_port
from nextapp import ENV, FIXTURE, browser_driver, next_start

from releases_cli.nextjs.static_share import proof_url_path
from releases_cli.serving.health import build_id_url, probe

pytestmark = pytest.mark.e2e

PANEL = Path("app") / "skew" / "panel.js"


@pytest.fixture(scope="module")
def driver() -> Path:
    """tests/browser/skew.mjs with playwright-core installed next to it."""
    return browser_driver("skew.mjs")


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture app's dependencies, installed once; each build hardlinks them (`cp -al`)."""
    app = tmp_path_factory.mktemp("deps") / "app"
    shutil.copytree(FIXTURE, app)
    subprocess.run(
        ["npm", "ci"], cwd=app, env={**os.environ, **ENV}, check=True, timeout=900,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return app / "node_modules"


def _read_line(proc: subprocess.Popen[str]) -> dict[str, object]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"browser driver ended early: {proc.stderr.read() if proc.stderr else ''}"
    result: dict[str, object] = json.loads(line)
    return result


def _skew_scenario(
    tmp_path: Path, cli: Cli, driver: Path, node_modules: Path, share: bool
) -> dict[str, object]:
    """Serve build A, open /skew in Chromium, deploy + switch + restart onto build B, then
    navigate client-side to the lazy panel; return what the browser saw."""
    app, root = tmp_path / "app", tmp_path / "root"
    shutil.copytree(FIXTURE, app)
    root.mkdir()
    assert cli("init", "--root", str(root)).returncode == 0
    commands = json.dumps([f"cp -al {node_modules} node_modules", "npx next build"])
    (root / "releases.toml").write_text(
        f"[build]\nshare_static = {str(share).lower()}\ncommands = {commands}\n"
    )
    build_a = deploy_ok(cli, root, app, env=ENV, timeout=900)
    port = free_port()
    browser = subprocess.Popen(
        ["node", str(driver), f"http://127.0.0.1:{port}/skew", str(tmp_path / "profile")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with next_start(root / "current", port):
            opened = _read_line(browser)
            # Build B: changed code, so the panel's chunk has a new content hash.
            (app / PANEL).write_text((app / PANEL).read_text().replace("one", "two"))
            build_b = deploy_ok(cli, root, app, env=ENV, timeout=900)
            # What the health check asks for to tell build B from an old worker.
            proof = build_id_url(
                f"http://127.0.0.1:{port}/", proof_url_path(root / "releases" / build_b)
            )
            assert proof is not None
            proof_on_a = probe(proof, 10)
        with next_start(root / "current", port):  # restarted: now serving build B
            proof_on_b = probe(proof, 10)
            assert browser.stdin is not None
            browser.stdin.write("go\n")
            browser.stdin.flush()
            seen = _read_line(browser)
        browser.wait(timeout=60)
    finally:
        if browser.poll() is None:
            browser.kill()
            browser.wait()
    proofs = {"proof": proof, "on_a": proof_on_a, "on_b": proof_on_b}
    return {"a": build_a, "b": build_b, "opened": opened, **proofs, **seen}


def test_old_page_loads_its_lazy_chunk_after_switch_only_with_sharing(
    tmp_path: Path, cli: Cli, driver: Path, node_modules: Path
) -> None:
    """Feature on: the page of build A renders its lazy panel (build A's text) from the server
    now running build B, with no failed request; the page carries release A's deployment id,
    and the health check's build probe tells B's server from A's. Feature off, same steps:
    build A's chunk is a 404 on build B, the page raises ChunkLoadError and the panel never
    appears."""
    on = _skew_scenario(tmp_path / "on", cli, driver, node_modules, share=True)
    assert on["opened"] == {"opened": "releases fixture", "deploymentId": on["a"]}
    assert on["panel"] == "lazy panel of build one", on
    assert on["failed"] == [], on
    # With a deployment id every Next.js build has the same build id; the health check's probe
    # is then one of build B's own chunks: 404 from the server still running A, 200 from B.
    assert "/_next/static/chunks/" in str(on["proof"]), on
    assert (on["on_a"], on["on_b"]) == (404, 200), on

    off = _skew_scenario(tmp_path / "off", cli, driver, node_modules, share=False)
    assert off["panel"] is None, off
    failures = [str(f) for f in off["failed"]]  # type: ignore[attr-defined]
    assert any(f.startswith("404 /_next/static/chunks/") for f in failures), off
    assert any("ChunkLoadError" in f for f in failures), off
