"""Deploy from a directory: copy, build in place, complete, switch, prune."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import Cli, argv, current_id, deploy_ok, history_of, meta_of, tree_state


def test_deploy_copies_tree_without_git_node_modules_next(cli: Cli, root: Path, app: Path) -> None:
    """The release is a faithful copy (modes, symlinks) minus .git, node_modules and .next."""
    release = root / "releases" / deploy_ok(cli, root, app)
    assert (release / "index.html").read_text() == "v1\n"
    assert (release / "pages" / "about.html").read_text() == "about\n"
    assert os.access(release / "run.sh", os.X_OK)
    assert os.readlink(release / "link-to-index") == "index.html"
    for skipped in (".git", "node_modules", ".next"):
        assert not (release / skipped).exists()
    assert (root / "current" / "index.html").read_text() == "v1\n"
    assert not os.readlink(root / "current").startswith("/"), "current must be a relative link"


def test_build_runs_in_release_streams_and_logs(cli: Cli, root: Path, app: Path) -> None:
    """Build commands run in the release with RELEASE_* variables; output shown and logged."""
    build = ["echo built-$RELEASE_ID > out.txt", "echo hello-from-build"]
    result = cli(*argv("deploy", root=root, source=app, build=build))
    assert result.returncode == 0, result.stderr
    release_id = current_id(root)
    assert (root / "releases" / release_id / "out.txt").read_text() == f"built-{release_id}\n"
    assert "hello-from-build" in result.stdout
    log = (root / ".releases" / "logs" / f"{release_id}.log").read_text()
    assert "hello-from-build" in log and "$ echo hello-from-build" in log
    meta = meta_of(root, release_id)
    assert meta["status"] == "complete" and meta["size"] > 0
    assert result.stdout.strip().splitlines()[-1].startswith(f"deployed {release_id} in ")


def test_failing_build_leaves_current_and_records_failure(cli: Cli, root: Path, app: Path) -> None:
    """A failing build: current untouched, release marked failed, exit 6 names command and log."""
    good = deploy_ok(cli, root, app)
    (app / "index.html").write_text("v2\n")
    result = cli(
        *argv("deploy", root=root, source=app, build=["echo step1", "exit 3", "touch never"])
    )
    assert result.returncode == 6
    assert "'exit 3'" in result.stderr and ".releases/logs/" in result.stderr
    assert len(result.stderr.strip().splitlines()) >= 1
    assert current_id(root) == good
    assert (root / "current" / "index.html").read_text() == "v1\n"
    failed = [
        m
        for m in (root / ".releases" / "meta").glob("*.json")
        if json.loads(m.read_text())["status"] == "failed"
    ]
    assert len(failed) == 1
    assert not (root / "releases" / failed[0].stem / "never").exists()
    events = [e["event"] for e in history_of(root)]
    assert events[-1] == "deploy_failed"


def test_keep_two_after_many_deploys(cli: Cli, root: Path, app: Path) -> None:
    """N deploys with keep=2 leave exactly the newest two, and current is the newest."""
    deployed = []
    for n in range(5):
        (app / "index.html").write_text(f"v{n}\n")
        deployed.append(deploy_ok(cli, root, app, "--keep", "2"))
    assert sorted(p.name for p in (root / "releases").iterdir()) == sorted(deployed[-2:])
    assert current_id(root) == deployed[-1]
    assert (root / "current" / "index.html").read_text() == "v4\n"
    assert sorted(p.stem for p in (root / ".releases" / "meta").iterdir()) == sorted(deployed[-2:])


def test_keep_from_config_file(cli: Cli, root: Path, app: Path) -> None:
    """`keep` in releases.toml applies; the flag overrides it. The rollback target is never
    pruned, so keep = 1 still leaves current + previous."""
    (root / "releases.toml").write_text("keep = 1\n")
    ids = [deploy_ok(cli, root, app) for _ in range(3)]
    assert sorted(p.name for p in (root / "releases").iterdir()) == ids[1:]
    for _ in range(3):
        deploy_ok(cli, root, app, "--keep", "3")
    assert len(list((root / "releases").iterdir())) == 3


def test_failed_builds_never_count_toward_keep(cli: Cli, root: Path, app: Path) -> None:
    """Failed deploys never push good releases out of the kept set."""
    good = [deploy_ok(cli, root, app, "--keep", "2") for _ in range(2)]
    for _ in range(3):
        result = cli(
            "deploy", "--root", str(root), "--source", str(app), "--build", "false", "--keep", "2"
        )
        assert result.returncode == 6
    third = deploy_ok(cli, root, app, "--keep", "2")
    kept = sorted(p.name for p in (root / "releases").iterdir())
    assert kept == sorted([good[1], third]), "failed releases are pruned first, good ones stay"


def test_missing_source_and_source_containing_root_are_refused(cli: Cli, tmp_path: Path) -> None:
    """Bad sources are refused with a one-line error and nothing is created."""
    root = tmp_path / "app" / "deploy"
    root.mkdir(parents=True)
    before = tree_state(tmp_path)
    result = cli("deploy", "--root", str(root), "--source", str(tmp_path / "app"))
    assert result.returncode == 3 and "contains the deploy root" in result.stderr
    result = cli("deploy", "--root", str(root), "--source", str(tmp_path / "nope"))
    assert result.returncode == 4 and "does not exist" in result.stderr
    assert tree_state(tmp_path) == before


def test_root_from_env_and_cwd(cli: Cli, root: Path, app: Path) -> None:
    """--root, else $RELEASES_ROOT, else the current directory."""
    result = cli("deploy", "--source", str(app), env={"RELEASES_ROOT": str(root)})
    assert result.returncode == 0, result.stderr
    result = cli("status", cwd=root)
    assert result.returncode == 0 and current_id(root) in result.stdout
