"""End to end with real npm and Next.js: the preset builds, shared files reach the build, the
build cache is reused, and an adopted app is served from `current`. Slow: marked e2e."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import Cli, current_id, free_port

FIXTURE = Path(__file__).parent / "fixtures" / "nextjs-app"
ENV = {"NEXT_TELEMETRY_DISABLED": "1", "npm_config_fund": "false", "npm_config_audit": "false"}

pytestmark = pytest.mark.e2e


def _tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for entry in sorted(path.rglob("*")):
        digest.update(str(entry.relative_to(path)).encode())
        if entry.is_file() and not entry.is_symlink():
            digest.update(entry.read_bytes())
    return digest.hexdigest()


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
        return response.status, response.read().decode()


def _serve_and_fetch(cwd: Path, paths: list[str]) -> list[str]:
    """Run `next start` from `cwd` (the `current` symlink path, as PM2 would) on 127.0.0.1 and
    return the bodies of `paths`."""
    port = free_port()
    server = subprocess.Popen(
        ["node", "node_modules/next/dist/bin/next", "start", "-H", "127.0.0.1", "-p", str(port)],
        cwd=cwd,
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(240):  # bounded: at most ~60 s for the server to listen
            try:
                _get(f"http://127.0.0.1:{port}/api/hello")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.25)
        bodies = []
        for path in paths:
            status, body = _get(f"http://127.0.0.1:{port}{path}")
            assert status == 200
            bodies.append(body)
        return bodies
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, cli_module: Cli) -> dict[str, Path | str]:
    """Two deploys of the fixture app with the default (preset) build commands."""
    base = tmp_path_factory.mktemp("nextjs")
    app, root = base / "app", base / "root"
    shutil.copytree(FIXTURE, app)
    root.mkdir()
    assert cli_module("init", "--root", str(root)).returncode == 0
    (root / "releases.toml").write_text('[shared]\nfiles = [".env.production"]\n')
    (root / "shared" / ".env.production").write_text("NEXT_PUBLIC_GREETING=hello-from-shared\n")
    first = cli_module("deploy", "--root", str(root), "--source", str(app), env=ENV, timeout=900)
    assert first.returncode == 0, first.stderr + first.stdout
    first_id = current_id(root)
    cache = root / "releases" / first_id / ".next" / "cache"
    digest = _tree_digest(cache)
    second = cli_module("deploy", "--root", str(root), "--source", str(app), env=ENV, timeout=900)
    assert second.returncode == 0, second.stderr + second.stdout
    return {
        "root": root,
        "first": first_id,
        "second": current_id(root),
        "second_stderr": second.stderr,
        "digest_before": digest,
        "digest_after": _tree_digest(cache),
    }


@pytest.fixture(scope="module")
def cli_module() -> Cli:
    from helpers import run_cli

    return run_cli


def test_preset_runs_npm_ci_and_next_build(built: dict[str, Path | str]) -> None:
    """No --build given: package-lock.json + next dependency -> `npm ci`, `npx next build`."""
    root = Path(built["root"])
    meta = json.loads((root / ".releases" / "meta" / f"{built['first']}.json").read_text())
    assert meta["status"] == "complete"
    assert meta["build"] == ["npm ci", "npx next build"]
    assert (root / "releases" / str(built["first"]) / ".next" / "BUILD_ID").is_file()


def test_second_deploy_reuses_cache_and_leaves_first_intact(
    built: dict[str, Path | str],
) -> None:
    """The second build starts from the first's .next/cache; the first's cache is unchanged."""
    assert f"build cache: copied .next/cache from {built['first']}" in str(built["second_stderr"])
    assert built["digest_before"] == built["digest_after"]


def test_built_release_serves_shared_env_from_current(built: dict[str, Path | str]) -> None:
    """`next start` from `current` serves the page built with shared/.env.production, and the
    API route answers."""
    root = Path(built["root"])
    page, api = _serve_and_fetch(root / "current", ["/", "/api/hello"])
    assert "hello-from-shared" in page
    assert json.loads(api)["ok"] is True


def test_adopted_in_place_app_is_served_from_current(
    built: dict[str, Path | str], tmp_path: Path, cli: Cli
) -> None:
    """An app built in place (here: a copy of a built release) adopted into a new root is
    served by `next start` from the new `current` with its old build, unchanged."""
    in_place = tmp_path / "shop-app"
    subprocess.run(
        ["cp", "-a", str(Path(built["root"]) / "releases" / str(built["first"])), str(in_place)],
        check=True,
    )
    (in_place / ".env.production").unlink()
    (in_place / ".env.production").write_text("NEXT_PUBLIC_GREETING=hello-from-shared\n")
    root = tmp_path / "root"
    root.mkdir()
    result = cli("init", "--root", str(root), "--adopt", str(in_place))
    assert result.returncode == 0, result.stderr
    (page,) = _serve_and_fetch(root / "current", ["/"])
    assert "hello-from-shared" in page
