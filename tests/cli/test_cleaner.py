"""The detached cleaner: a deploy leaves the deletion of what it pruned to a process in a session
of its own; a cleaner killed mid-way is finished like an interrupted prune; a tree a live
process holds is never deleted by anyone else nor taken for an interrupted prune."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from helpers import Cli, deploy_ok, history_of, run_cli, trash_entries

from releases_cli.core import cleaner


def _wide(app: Path) -> Path:
    """Several top-level entries, so a cleaner killed after the first leaves a half-deleted tree."""
    for i in range(6):
        (app / f"dir{i}").mkdir()
        (app / f"dir{i}" / "file.txt").write_text(f"{i}\n")
    return app


def test_a_deploy_hands_what_it_pruned_to_a_cleaner_in_its_own_session(
    root: Path, app: Path
) -> None:
    """A real `releases deploy` that prunes returns (its stdout and stderr closed, as an ssh
    client sees them) with the pruned release gone from releases/ and its meta, the prune in
    the history; the tree is then deleted by another process, the leader of a session of its
    own (so the caller's terminal or ssh session does not wait for it, nor signal it), and
    the cleaner's log says so."""
    first = deploy_ok(run_cli, root, app, "--keep", "1")
    deploy_ok(run_cli, root, app, "--keep", "1")
    result = run_cli("deploy", "--root", str(root), "--source", str(app), "--keep", "1", real=True)
    assert result.returncode == 0, result.stderr
    assert "pruned 1" in result.stdout
    assert not (root / "releases" / first).exists()
    assert not (root / ".releases" / "meta" / f"{first}.json").exists()
    assert [e["ids"] for e in history_of(root, "prune")][-1] == [first]
    deploy_pid = history_of(root, "prune")[-1]["pid"]

    cleaner.wait_for_cleaners(root / ".releases" / "trash")
    assert trash_entries(root) == []
    log = (root / ".releases" / cleaner.LOG_NAME).read_text()
    found = re.findall(rf"cleaner pid (\d+) \(session (\d+)\): deleted trash/{first}-", log)
    assert len(found) == 1, log
    pid, session = found[0]
    assert pid == session != str(deploy_pid)


def test_a_cleaner_killed_mid_way_is_finished_like_an_interrupted_prune(
    cli: Cli, root: Path, app: Path
) -> None:
    """SIGKILL of the cleaner with the pruned tree half deleted: the releases kept are intact
    and live; the next state-changing command deletes the rest, says so and records
    `prune_interrupted`, as after a prune killed mid-way."""
    _wide(app)
    first = deploy_ok(cli, root, app, "--keep", "1")
    deploy_ok(cli, root, app, "--keep", "1")
    killed = cli(
        "deploy", "--root", str(root), "--source", str(app), "--keep", "1",
        env={"RELEASES_FAULT": "mid_clean"},
    )  # fmt: skip
    assert killed.returncode == 0, killed.stderr  # the deploy itself is done
    live = os.readlink(root / "current")
    cleaner.wait_for_cleaners(root / ".releases" / "trash")  # returns once the cleaner died
    (left,) = trash_entries(root)
    assert left.startswith(f"{first}-")
    remaining = sorted(p.name for p in (root / ".releases" / "trash" / left).iterdir())
    whole = list((root / "current").iterdir())
    assert 0 < len(remaining) < len(whole), "half deleted"
    assert (root / "current" / "dir5" / "file.txt").read_text() == "5\n"

    again = cli("prune", "--root", str(root), "--keep", "1")
    assert again.returncode == 0, again.stderr
    assert f"finished deleting {first} (an interrupted prune)" in again.stderr
    assert [e["id"] for e in history_of(root, "prune_interrupted")] == [first]
    assert trash_entries(root) == []
    assert os.readlink(root / "current") == live


def test_a_tree_held_by_a_live_cleaner_is_left_to_it(cli: Cli, root: Path, app: Path) -> None:
    """While a live process holds a trash entry (as a running cleaner does), neither recovery
    nor `releases prune` deletes it or records it as an interrupted prune; once the holder is
    gone without finishing, the next command does both."""
    deploy_ok(cli, root, app)
    trash = root / ".releases" / "trash"
    trash.mkdir(exist_ok=True)
    entry = "20200101T000000Z-0badcafe"
    (trash / entry / "sub").mkdir(parents=True)
    (trash / entry / "sub" / "file.txt").write_text("being deleted\n")
    trash_fd = os.open(trash, os.O_RDONLY | os.O_DIRECTORY)
    try:
        held = cleaner.claim(trash_fd, entry)
        assert held is not None
        assert cleaner.claim(trash_fd, entry) is None, "one holder at a time"
        busy = cli("prune", "--root", str(root))
        assert busy.returncode == 0, busy.stderr
        assert "recovered" not in busy.stderr
        assert (trash / entry / "sub" / "file.txt").is_file()
        assert history_of(root, "prune_interrupted") == []
        cleaner.release((held,))
    finally:
        os.close(trash_fd)
    after = cli("prune", "--root", str(root))
    assert after.returncode == 0, after.stderr
    assert "finished deleting 20200101T000000Z" in after.stderr
    assert trash_entries(root) == []
    assert [e["id"] for e in history_of(root, "prune_interrupted")] == ["20200101T000000Z"]


def test_two_cleaners_each_delete_their_own_tree(cli: Cli, root: Path, app: Path) -> None:
    """Deploys in a row, each starting a cleaner while the one before may still run: every
    pruned tree is deleted exactly once (one log line each), nothing is left in the trash, and
    no deploy takes a running cleaner's tree for an interrupted prune."""
    _wide(app)
    ids = [deploy_ok(cli, root, app, "--keep", "1") for _ in range(5)]
    cleaner.wait_for_cleaners(root / ".releases" / "trash")
    assert trash_entries(root) == []
    log = (root / ".releases" / cleaner.LOG_NAME).read_text()
    deleted = re.findall(r"deleted trash/(\S+)-[0-9a-f]{8} ", log)
    assert sorted(deleted) == ids[:3]
    assert history_of(root, "prune_interrupted") == []
    assert sorted(p.name for p in (root / "releases").iterdir()) == ids[3:]


def test_the_cleaner_never_imports_code_from_the_callers_directory(
    root: Path, app: Path, tmp_path: Path
) -> None:
    """A deploy run from a directory holding a `releases_cli/` package (a release's content, when
    the operator runs `releases` from inside `current`) starts a cleaner that runs our code, not
    that package: nothing of it executes, and the pruned tree is deleted."""
    here = tmp_path / "release-content"
    fake = here / "releases_cli" / "core"
    fake.mkdir(parents=True)
    marker = tmp_path / "ran-the-fake-cleaner"
    (here / "releases_cli" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "cleaner.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    for _ in range(2):  # the current and the previous release are always kept
        deploy_ok(run_cli, root, app, "--keep", "1")
    script = Path(sys.executable).parent / "releases"  # as installed: not `python -m`
    argv = [str(script), "deploy", "--root", str(root), "--source", str(app), "--keep", "1"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RELEASES_ROOT")}
    result = subprocess.run(argv, cwd=here, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "pruned 1" in result.stdout
    cleaner.wait_for_cleaners(root / ".releases" / "trash")
    assert not marker.exists()
    assert trash_entries(root) == []
