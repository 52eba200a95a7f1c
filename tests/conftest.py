"""Shared fixtures: a deploy root in tmp_path, an app directory, the real CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

Cli = Callable[..., subprocess.CompletedProcess[str]]


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `releases ARGS` from this checkout in a real subprocess."""
    base = {k: v for k, v in os.environ.items() if k != "RELEASES_ROOT"}
    full_env = {**base, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "releases_cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def cli() -> Cli:
    return run_cli


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty deploy root directory (not yet initialised)."""
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A small app source tree, with the directories a deploy must leave out."""
    path = tmp_path / "app"
    (path / "pages").mkdir(parents=True)
    (path / "index.html").write_text("v1\n")
    (path / "pages" / "about.html").write_text("about\n")
    (path / "run.sh").write_text("#!/bin/sh\necho run\n")
    (path / "run.sh").chmod(0o755)
    (path / "link-to-index").symlink_to("index.html")
    for skipped in (".git", "node_modules", ".next"):
        (path / skipped).mkdir()
        (path / skipped / "junk").write_text("must not be copied\n")
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the deploy root that nothing may ever touch (planted links point
    into it): a file `precious.txt` and a directory `deep/`."""
    path = tmp_path / "outside"
    (path / "deep").mkdir(parents=True)
    (path / "precious.txt").write_text("do not delete\n")
    (path / "deep" / "also.txt").write_text("nor this\n")
    return path


def tree_state(path: Path) -> dict[str, str]:
    """Every entry under `path` with its kind and content (links by target): equal before and
    after a refused command proves the command changed nothing."""
    state: dict[str, str] = {}
    for entry in sorted(path.rglob("*")):
        rel = str(entry.relative_to(path))
        if entry.is_symlink():
            state[rel] = "link:" + os.readlink(entry)
        elif entry.is_dir():
            state[rel] = "dir"
        else:
            state[rel] = "file:" + entry.read_bytes().hex()
    return state


def deploy_ok(cli: Cli, root: Path, app: Path, *extra: str) -> str:
    """Deploy `app` into `root` and return the new release id (fails the test otherwise)."""
    result = cli("deploy", "--root", str(root), "--source", str(app), *extra)
    assert result.returncode == 0, result.stderr
    return current_id(root)


def current_id(root: Path) -> str:
    return os.readlink(root / "current").split("/")[-1]
