"""Dependency reuse with the real Next.js app: an unchanged lockfile hardlinks node_modules and
the build still works; a later dependency change (real `npm ci`) leaves the earlier releases'
node_modules byte-for-byte unchanged, and a rollback to one of them serves. Slow: marked e2e."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import Cli, current_id, run_cli, tree_hashes
from nextapp import ENV, FIXTURE, NPM_ENV, serve_and_fetch

pytestmark = pytest.mark.e2e

E2E_ENV = {**ENV, **NPM_ENV}


def _deploy(root: Path, app: Path) -> str:
    result = run_cli("deploy", "--root", str(root), "--source", str(app), env=E2E_ENV, timeout=900)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stderr + result.stdout


def _add_local_dependency(app: Path, tmp: Path) -> None:
    """Change the dependencies: add a small local package (offline) and relock with npm."""
    pkg = tmp / "tiny"
    pkg.mkdir()
    (pkg / "package.json").write_text(json.dumps({"name": "tiny", "version": "1.0.0"}))
    (pkg / "index.js").write_text("module.exports = 'tiny';\n")
    (app / "vendor").mkdir()
    subprocess.run(
        ["npm", "pack", "--pack-destination", str(app / "vendor")],
        cwd=pkg,
        check=True,
        capture_output=True,
    )
    package = json.loads((app / "package.json").read_text())
    package["dependencies"]["tiny"] = "file:vendor/tiny-1.0.0.tgz"
    (app / "package.json").write_text(json.dumps(package, indent=2))
    subprocess.run(
        ["npm", "install", "--package-lock-only"], cwd=app, check=True, capture_output=True
    )


def test_reuse_then_dependency_change_keeps_old_releases_runnable(tmp_path: Path, cli: Cli) -> None:
    """Deploy, deploy a one-line change (node_modules reused, install skipped, build OK), then
    deploy a changed lockfile (npm ci runs): both earlier releases' node_modules hash the same
    as before, and after rolling back, `next start` from `current` answers 200 with the
    release's page."""
    app, root = tmp_path / "app", tmp_path / "root"
    shutil.copytree(FIXTURE, app)
    root.mkdir()
    assert cli("init", "--root", str(root)).returncode == 0
    _deploy(root, app)
    first = current_id(root)
    with (app / "app" / "page.js").open("a") as source:
        source.write("// a one-line change\n")
    output = _deploy(root, app)
    second = current_id(root)
    assert f"dependencies: lockfile unchanged since {first}" in output
    assert "$ npm ci" not in output
    releases = root / "releases"
    assert (releases / second / ".next" / "BUILD_ID").is_file()
    before = {r: tree_hashes(releases / r / "node_modules") for r in (first, second)}
    _add_local_dependency(app, tmp_path)
    output = _deploy(root, app)
    third = current_id(root)
    assert "$ npm ci" in output
    assert (releases / third / "node_modules" / "tiny" / "index.js").is_file()
    after = {r: tree_hashes(releases / r / "node_modules") for r in (first, second)}
    assert after == before
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert current_id(root) == second
    page, api = serve_and_fetch(root / "current", ["/", "/api/hello"])
    assert "<html" in page
    assert json.loads(api)["ok"] is True
