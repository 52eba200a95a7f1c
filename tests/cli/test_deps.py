"""Dependency reuse: an unchanged lockfile gives the new release a hardlinked node_modules and
skips the install; a changed one installs, and never writes through to an older release.

The deploys here run the real preset path with real `npm ci` (offline: the dependency is a
local tarball made by `npm pack`), and a small package named `next` whose `next build` bin
writes `.next/BUILD_ID`. tests/e2e/test_deps_e2e.py does the same with the real Next.js app.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok, history_of, meta_of, tree_hashes
from nextapp import NPM_ENV

from releases_cli.nextjs import deps

NEXT_BIN = """#!/usr/bin/env node
const fs = require('fs');
fs.mkdirSync('.next/cache', { recursive: true });
fs.writeFileSync('.next/BUILD_ID', require('next/package.json').version);
"""


def _pack(work: Path, version: str, dest: Path) -> str:
    """`npm pack` a package named next at `version` (12 files, a `next` bin) into `dest`."""
    pkg = work / f"pkg-{version}"
    (pkg / "bin").mkdir(parents=True)
    (pkg / "lib").mkdir()
    (pkg / "package.json").write_text(
        json.dumps({"name": "next", "version": version, "bin": {"next": "bin/next.js"}})
    )
    (pkg / "bin" / "next.js").write_text(NEXT_BIN)
    (pkg / "bin" / "next.js").chmod(0o755)
    for n in range(10):
        (pkg / "lib" / f"part{n}.js").write_text(f"module.exports = {n}; // {version}\n")
    subprocess.run(
        ["npm", "pack", "--pack-destination", str(dest)],
        cwd=pkg,
        check=True,
        capture_output=True,
        env={**os.environ, **NPM_ENV},
    )
    return f"file:vendor/next-{version}.tgz"


def _use(app: Path, spec: str) -> None:
    """Point the app at a dependency spec and refresh its lockfile with real npm."""
    (app / "package.json").write_text(
        json.dumps(
            {"name": "shop", "version": "1.0.0", "private": True, "dependencies": {"next": spec}}
        )
    )
    subprocess.run(
        ["npm", "install", "--package-lock-only"],
        cwd=app,
        check=True,
        capture_output=True,
        env={**os.environ, **NPM_ENV},
    )


@pytest.fixture
def npm_app(tmp_path: Path) -> Path:
    """A Next.js-preset app (depends on `next` 1.0.0) with a package-lock.json."""
    app = tmp_path / "npm-app"
    (app / "vendor").mkdir(parents=True)
    for version in ("1.0.0", "2.0.0"):
        _pack(tmp_path, version, app / "vendor")
    _use(app, "file:vendor/next-1.0.0.tgz")
    (app / "page.txt").write_text("v1\n")
    return app


def _deploy(cli: Cli, root: Path, app: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    result = cli("deploy", "--root", str(root), "--source", str(app), *extra, env=NPM_ENV)
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def _require_next_version(cwd: Path) -> str:
    """What `require('next/package.json')` resolves to when node runs from `cwd`."""
    return subprocess.run(
        ["node", "-e", "process.stdout.write(require('next/package.json').version)"],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_unchanged_lockfile_reuses_node_modules(cli: Cli, root: Path, npm_app: Path) -> None:
    """The second deploy (a code change, same lockfile) gets node_modules as new directories
    holding hardlinks to the first release's files, skips `npm ci`, still builds, and says
    so in meta, the history, and `list`."""
    first = deploy_ok(cli, root, npm_app)
    (npm_app / "page.txt").write_text("v2\n")
    result = _deploy(cli, root, npm_app)
    second = current_id(root)
    assert f"dependencies: lockfile unchanged since {first}" in result.stderr
    assert "$ npm ci" not in result.stdout + result.stderr
    old, new = root / "releases" / first, root / "releases" / second
    assert (new / ".next" / "BUILD_ID").read_text() == "1.0.0"
    assert not (new / "node_modules").is_symlink()
    assert (new / "node_modules").stat().st_ino != (old / "node_modules").stat().st_ino
    part = Path("node_modules/next/lib/part3.js")
    assert (new / part).stat().st_ino == (old / part).stat().st_ino
    assert os.readlink(new / "node_modules/.bin/next") == os.readlink(
        old / "node_modules/.bin/next"
    )
    assert tree_hashes(new / "node_modules") == tree_hashes(old / "node_modules")
    assert meta_of(root, first)["deps"] == "installed"
    assert meta_of(root, second)["deps"] == f"reused from {first}"
    assert meta_of(root, second)["build"] == ["npx next build"]
    events = history_of(root)
    finished = [e for e in events if e["event"] == "deploy_finished"]
    assert [e.get("deps") for e in finished] == ["installed", f"reused from {first}"]
    listing = cli("list", "--root", str(root))
    assert "DEPS" in listing.stdout and f"reused {first}" in listing.stdout
    records = json.loads(cli("list", "--root", str(root), "--json").stdout)["releases"]
    assert [r["deps"] for r in records] == [f"reused from {first}", "installed"]


def test_changed_dependencies_leave_older_releases_intact(
    cli: Cli, root: Path, npm_app: Path
) -> None:
    """A later release with a changed lockfile runs `npm ci` in its own tree: every file of the
    two earlier releases' (shared-inode) node_modules is byte-for-byte unchanged, and after a
    rollback node still resolves the old `next` from `current`."""
    first = deploy_ok(cli, root, npm_app)
    (npm_app / "page.txt").write_text("v2\n")
    second = deploy_ok(cli, root, npm_app)
    before = {r: tree_hashes(root / "releases" / r / "node_modules") for r in (first, second)}
    _use(npm_app, "file:vendor/next-2.0.0.tgz")
    result = _deploy(cli, root, npm_app)
    third = current_id(root)
    assert "$ npm ci" in result.stdout + result.stderr
    assert meta_of(root, third)["deps"] == "installed"
    assert _require_next_version(root / "current") == "2.0.0"
    after = {r: tree_hashes(root / "releases" / r / "node_modules") for r in (first, second)}
    assert after == before
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert current_id(root) == second
    assert _require_next_version(root / "current") == "1.0.0"


def test_explicit_frozen_install_first_is_reused(cli: Cli, root: Path, npm_app: Path) -> None:
    """Build commands given explicitly: a plain frozen install first (`npm ci` with flags) is
    skipped on reuse like the preset's; `npm ci && ...` does more than install, so it runs and
    meta records no deps."""
    first = deploy_ok(cli, root, npm_app, "--build", "npm ci --prefer-offline")
    build = ("--build", "npm ci --prefer-offline", "--build", "npx next build")
    result = _deploy(cli, root, npm_app, *build)
    assert f"lockfile unchanged since {first}" in result.stderr
    assert meta_of(root, current_id(root))["build"] == ["npx next build"]
    result = _deploy(cli, root, npm_app, "--build", "npm ci && npx next build")
    assert "dependencies:" not in result.stderr
    assert "deps" not in meta_of(root, current_id(root))


@pytest.mark.parametrize(
    ("command", "frozen"),
    [
        ("npm ci", True),
        ("npm ci --prefer-offline --no-audit", True),
        ("pnpm install --frozen-lockfile", True),
        ("yarn install --frozen-lockfile --silent", True),
        ("npm install", False),
        ("pnpm install", False),
        ("npm ci && rm -rf node_modules/x", False),
        ("npm ci; echo", False),
        ("npm ci $EXTRA", False),
        ("npx next build", False),
        ("npm 'ci", False),
    ],
)
def test_frozen_install_recognition(command: str, frozen: bool) -> None:
    """Only a plain install that follows the lockfile exactly may be skipped."""
    assert deps.is_frozen_install(command) is frozen


def test_failed_release_is_never_the_source(cli: Cli, root: Path, npm_app: Path) -> None:
    """A failed release's node_modules (maybe half-installed) is never reused: the next deploy
    links from the live, complete release."""
    first = deploy_ok(cli, root, npm_app)
    failing = cli(
        "deploy", "--root", str(root), "--source", str(npm_app), "--build", "npm ci && false"
    )
    assert failing.returncode == 6
    result = _deploy(cli, root, npm_app)
    assert f"lockfile unchanged since {first}" in result.stderr


def test_crash_mid_link_leaves_previous_intact(cli: Cli, root: Path, npm_app: Path) -> None:
    """SIGKILL halfway through linking: the live release's node_modules is unchanged, and the
    next deploy cleans up the incomplete release and reuses the live one's again."""
    first = deploy_ok(cli, root, npm_app)
    before = tree_hashes(root / "releases" / first / "node_modules")
    crashed = cli(
        "deploy", "--root", str(root), "--source", str(npm_app), env={"RELEASES_FAULT": "mid_link"}
    )
    assert crashed.returncode != 0
    assert current_id(root) == first
    result = _deploy(cli, root, npm_app)
    assert "recovered:" in result.stderr
    assert f"lockfile unchanged since {first}" in result.stderr
    assert tree_hashes(root / "releases" / first / "node_modules") == before


def test_link_tree_shares_files_not_caches_or_state(tmp_path: Path) -> None:
    """Regular files are hardlinks, directories new (modes kept), symlinks recreated;
    node_modules/.cache is left out; npm's state file and Prisma's generated client are copies
    (tools rewrite those in place)."""
    src = tmp_path / "old" / "node_modules"
    (src / "pkg" / "dist").mkdir(parents=True)
    (src / ".cache" / "babel").mkdir(parents=True)
    (src / ".bin").mkdir()
    (src / "pkg" / "dist" / "index.js").write_text("x")
    (src / "pkg" / "dist").chmod(0o555)
    (src / ".cache" / "babel" / "blob").write_text("cache")
    (src / ".package-lock.json").write_text("{}")
    (src / ".prisma" / "client").mkdir(parents=True)
    (src / ".prisma" / "client" / "index.js").write_text("generated")
    (src / ".bin" / "tool").symlink_to("../pkg/dist/index.js")
    dest = tmp_path / "new" / "node_modules"
    dest.parent.mkdir()
    linked = deps.reuse(tmp_path / "old", tmp_path / "new")
    assert linked is not None
    assert (linked.files, linked.copied, linked.symlinks) == (1, 2, 1)
    assert (dest / "pkg/dist/index.js").stat().st_ino == (src / "pkg/dist/index.js").stat().st_ino
    assert (dest / "pkg/dist").stat().st_ino != (src / "pkg/dist").stat().st_ino
    assert (dest / "pkg/dist").stat().st_mode & 0o777 == 0o555
    assert os.readlink(dest / ".bin/tool") == "../pkg/dist/index.js"
    assert not (dest / ".cache").exists()
    state = dest / ".package-lock.json"
    assert state.read_text() == "{}"
    assert state.stat().st_ino != (src / ".package-lock.json").stat().st_ino
    client = Path(".prisma/client/index.js")
    assert (dest / client).read_text() == "generated"
    assert (dest / client).stat().st_ino != (src / client).stat().st_ino
    (src / "pkg" / "dist").chmod(0o755)


def test_same_lockfile_needs_same_name_and_bytes(tmp_path: Path) -> None:
    """Identical bytes under the same lockfile name only; no lockfile never matches."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert not deps.same_lockfile(a, b)
    (a / "package-lock.json").write_text('{"v": 1}')
    (b / "package-lock.json").write_text('{"v": 1}')
    assert deps.same_lockfile(a, b)
    (b / "package-lock.json").write_text('{"v": 2}')
    assert not deps.same_lockfile(a, b)
    (b / "package-lock.json").unlink()
    (b / "yarn.lock").write_text('{"v": 1}')
    assert not deps.same_lockfile(a, b)
