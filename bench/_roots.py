"""Deploy roots and source trees for the bench scripts, made through the library API.

Releases are staged and activated by the real pipeline stages (stage_release +
publish_new), so their meta files and history lines are exactly what deploys write; only
the clock is fake (one minute apart), which makes 1,000 releases take seconds instead of hours.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

from _timing import REPO

from releases_cli.core.compat import UTC

sys.path.insert(0, str(REPO))

from releases_cli.core import lock
from releases_cli.core.events import DeployFinished, record
from releases_cli.core.layout import DeployRoot
from releases_cli.pipelines.publish import LiveOptions, publish_new
from releases_cli.pipelines.stage import DeployOptions, stage_release
from releases_cli.sources.local import LocalSource

START = datetime(2026, 1, 1, tzinfo=UTC)


def _quiet(_message: str) -> None:
    return None


def small_app(path: Path) -> Path:
    """A three-file app: what a release holds when only the bookkeeping is being measured."""
    (path / "pages").mkdir(parents=True)
    (path / "index.html").write_text("<h1>hello</h1>\n")
    (path / "pages" / "about.html").write_text("about\n")
    (path / "package.json").write_text('{"name": "bench"}\n')
    return path


def tree(path: Path, files: int, per_dir: int = 100, size: int = 1024) -> Path:
    """`files` files of `size` bytes, `per_dir` to a directory, two levels deep (like an app
    source tree or node_modules)."""
    payload = b"x" * size
    made = 0
    package = 0
    while made < files:
        directory = path / f"pkg{package // 50:03d}" / f"mod{package:05d}"
        directory.mkdir(parents=True)
        for index in range(min(per_dir, files - made)):
            (directory / f"file{index:03d}.js").write_bytes(payload)
            made += 1
        package += 1
    return path


def root_with_releases(path: Path, source: Path, count: int) -> DeployRoot:
    """A deploy root whose history holds `count` deploys of `source`, all kept on disk."""
    root = DeployRoot(path)
    path.mkdir(parents=True, exist_ok=True)
    root.ensure_layout()
    options = DeployOptions(source=LocalSource(source), keep=count + 1)
    with lock.hold(root):
        for index in range(count):
            moment = START + timedelta(minutes=index)

            def clock(moment: datetime = moment) -> datetime:
                return moment

            staged = stage_release(root, options, clock, _quiet, 0.0)
            publish_new(root, staged.id, LiveOptions(), clock, _quiet, 0.0)
            record(root, DeployFinished(staged.id, staged.previous), clock)
    return root


def release_ids(root: DeployRoot) -> list[str]:
    return sorted(os.listdir(root.releases))
