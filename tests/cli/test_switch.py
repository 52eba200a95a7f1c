"""The atomic switch: never a missing or dangling `current`, even under concurrent readers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import Cli, current_id, deploy_ok, quiet, tree_state

from releases_cli.core.layout import DeployRoot
from releases_cli.pipelines.deploy import DeployOptions, deploy
from releases_cli.sources.local import LocalSource


def test_current_real_directory_is_refused(cli: Cli, root: Path, app: Path) -> None:
    """A `current` that is a real directory (in-place deploys) is refused with guidance."""
    (root / "current").mkdir()
    (root / "current" / "precious.txt").write_text("keep me")
    before = tree_state(root)
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 7
    assert "not a symlink" in result.stderr and "--adopt" in result.stderr
    state = tree_state(root)
    assert state["current/precious.txt"] == before["current/precious.txt"]
    assert not list((root / "releases").iterdir()), "no release may be created"


def test_leftover_temp_links_never_redirect_a_deploy(cli: Cli, root: Path, app: Path) -> None:
    """Temp links from an interrupted switch, under any name, never make a deploy switch wrong."""
    old = deploy_ok(cli, root, app)
    (app / "index.html").write_text("v2\n")
    for name in (".current.tmp-1-abc", ".current.tmp-", "current.tmp", ".current.new", "current~"):
        (root / name).symlink_to(f"releases/{old}")
    new = deploy_ok(cli, root, app)
    assert new != old and current_id(root) == new
    assert (root / "current" / "index.html").read_text() == "v2\n"
    assert not (root / ".current.tmp-1-abc").exists(), "our own leftover is cleaned up"
    assert os.readlink(root / "current.tmp") == f"releases/{old}", "foreign names are left alone"


def test_readers_never_fail_during_200_switches(root: Path, app: Path, tmp_path: Path) -> None:
    """Processes reading current/<file> in a tight loop while 200 deploys switch see 0 failures.

    keep=10 so that a reader would have to stall inside one open() for ten whole deploys before
    pruning could remove the release it resolved (a real deploy takes minutes, not 10 ms)."""
    droot = DeployRoot(root)
    opts = DeployOptions(source=LocalSource(app), keep=10)
    deploy(droot, opts, report=quiet)
    reader = textwrap.dedent(f"""
        import os, sys
        path = {str(root / "current" / "index.html")!r}
        stop = {str(tmp_path / "stop")!r}
        reads = fails = 0
        while not os.path.exists(stop):
            try:
                with open(path) as f:
                    if not f.read().startswith("v"):
                        fails += 1
                        print("bad content", file=sys.stderr)
            except OSError as error:
                fails += 1
                print(repr(error), file=sys.stderr)
            reads += 1
        print(reads, fails)
    """)
    readers = [
        subprocess.Popen([sys.executable, "-c", reader], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for n in range(200):
        (app / "index.html").write_text(f"v{n}\n")
        deploy(droot, opts, report=quiet)
    (tmp_path / "stop").touch()
    for proc in readers:
        out, _ = proc.communicate(timeout=60)
        reads, fails = map(int, out.split())
        assert reads > 200
        assert fails == 0
    assert (root / "current" / "index.html").read_text() == "v199\n"
    assert len(list((root / "releases").iterdir())) == 10
