"""End to end with real npm and Next.js: the preset builds, shared files reach the build, the
build cache is reused, and an adopted app is served from `current`. Slow: marked e2e."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import Cli, current_id, meta_of
from nextapp import ENV, FIXTURE, serve_and_fetch

pytestmark = pytest.mark.e2e


def _tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for entry in sorted(path.rglob("*")):
        digest.update(str(entry.relative_to(path)).encode())
        if entry.is_file() and not entry.is_symlink():
            digest.update(entry.read_bytes())
    return digest.hexdigest()


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
    meta = meta_of(root, str(built["first"]))
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
    page, api = serve_and_fetch(root / "current", ["/", "/api/hello"])
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
    (page,) = serve_and_fetch(root / "current", ["/"])
    assert "hello-from-shared" in page
