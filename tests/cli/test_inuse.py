"""In-use protection: a release a running process uses (its cwd, or a file it holds open) is
never pruned and is marked by `list`; `prune --force` deletes it anyway."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Cli, deploy_ok


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test; each is stopped (by its own pid) afterwards."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


def _releases(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "releases").iterdir())


def test_cwd_in_old_release_keeps_it(
    cli: Cli, root: Path, app: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """A `sleep` whose cwd is an old release (an unreloaded PM2 worker) keeps that release
    through deploys and prunes with keep=1; list shows "(in use)" and the pid; --force wins."""
    ids = [deploy_ok(cli, root, app, "--keep", "9") for _ in range(3)]
    oldest = root / "releases" / ids[0]
    worker = subprocess.Popen(["sleep", "300"], cwd=oldest / "pages", text=True)
    procs.append(worker)

    deploy_ok(cli, root, app, "--keep", "1")
    assert ids[0] in _releases(root) and ids[1] not in _releases(root)
    table = cli("list", "--root", str(root))
    row = next(line for line in table.stdout.splitlines() if line.split()[:1] == [ids[0]])
    assert "(in use)" in row
    listing = json.loads(cli("list", "--root", str(root), "--json").stdout)
    record = next(r for r in listing["releases"] if r["id"] == ids[0])
    assert record["in_use_by"] == [worker.pid]

    pruned = cli("prune", "--root", str(root), "--keep", "1")
    assert pruned.returncode == 0
    assert f"kept {ids[0]} (in use by pid {worker.pid})" in pruned.stdout
    assert oldest.is_dir() and (oldest / "index.html").read_text() == "v1\n"

    forced = cli("prune", "--root", str(root), "--keep", "1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"deleted {ids[0]}" in forced.stdout
    assert not oldest.exists()


def test_open_file_under_old_release_keeps_it(
    cli: Cli, root: Path, app: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """A process holding a file open under an old release (cwd elsewhere) keeps it from prune."""
    ids = [deploy_ok(cli, root, app, "--keep", "9") for _ in range(3)]
    held = root / "releases" / ids[0] / "pages" / "about.html"
    reader = subprocess.Popen(
        [sys.executable, "-c", f"f = open({str(held)!r}); print('ready', flush=True); input()"],
        cwd="/",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    procs.append(reader)
    assert reader.stdout is not None and reader.stdout.readline() == "ready\n"
    pruned = cli("prune", "--root", str(root), "--keep", "1")
    assert pruned.returncode == 0
    assert _releases(root) == sorted(ids)
    assert f"in use by pid {reader.pid}" in pruned.stdout

    assert reader.stdin is not None
    reader.stdin.write("\n")
    reader.stdin.close()
    assert reader.wait(timeout=10) == 0
    after = cli("prune", "--root", str(root), "--keep", "1")
    assert after.returncode == 0
    assert _releases(root) == sorted(ids[1:]), "once the file is closed, prune deletes it"
