"""Trees thousands of levels deep, and trees a build left read-only: a release holding one is
deleted like any other, and nothing left in `.releases/trash` ever fails a later command.

The deep trees are real (5,000 levels, built relative to directory descriptors: their paths are
far longer than PATH_MAX), deleted through real commands; the non-root deletion runs in a real
process that drops to `nobody`.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gitrepos import commit, init_repo
from helpers import REPO, Cli, current_id, deploy_ok, history_of, trash_entries
from mounts import bind, tmpfs

from releases_cli.core import cleaner, erase

DEPTH = 5000
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW

# Run by a build (and by the other tests): `python deep.py DEPTH OUT [MODE]` makes `deep/d/d/...`
# DEPTH levels down from the cwd, with a file and a link to OUT at every level, every 7th
# directory given MODE once made (0o555: read-only, as some builds leave them).
DEEP_PY = """\
import os, sys
depth, out = int(sys.argv[1]), sys.argv[2]
mode = int(sys.argv[3], 8) if len(sys.argv) > 3 else None
flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
os.mkdir("deep")
fd = os.open("deep", flags)
for level in range(depth):
    os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o444, dir_fd=fd))
    os.symlink(out, "out", dir_fd=fd)
    os.mkdir("d", dir_fd=fd)
    below = os.open("d", flags, dir_fd=fd)
    if mode is not None and level % 7 == 0:
        os.fchmod(fd, mode)
    os.close(fd)
    fd = below
os.close(fd)
"""


@pytest.fixture(autouse=True)
def _erase_deep_trees(tmp_path: Path) -> Iterator[None]:
    """Delete what each test left in its tmp_path with our own delete: pytest removes old
    temp directories with shutil.rmtree, which a 5,000-level tree makes raise RecursionError
    at the end of a later session (its exit code then says failed)."""
    yield
    fd = os.open(tmp_path, DIR_FLAGS)
    try:
        erase.clear(fd, str(tmp_path))
    except OSError:
        pass  # what cannot be deleted (a mount a test left) is no reason to fail the test
    finally:
        os.close(fd)


def _depth_of(top: Path) -> int:
    """How many `d` levels lie below `top` (walked with descriptors: the path is too long)."""
    fd = os.open(top, DIR_FLAGS)
    levels = 0
    try:
        while True:
            try:
                below = os.open("d", DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                return levels
            os.close(fd)
            fd, levels = below, levels + 1
    finally:
        os.close(fd)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _doctor(cli: Cli, root: Path, status: int = 0) -> dict[str, dict[str, Any]]:
    """`doctor --json` findings by check; `status` 10: problems found (docs/reference.md)."""
    result = cli("doctor", "--root", str(root), "--json")
    assert result.returncode == status, result.stderr
    report = json.loads(result.stdout)
    return {f["check"]: f for f in report["findings"]}


def test_a_release_whose_build_left_a_5000_level_tree_is_pruned_and_all_commands_work(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """A build leaves a 5,000-level directory. The deploy succeeds; `diff` against it refuses
    in one short line; once two newer deploys prune it, its tree is deleted by the detached
    cleaner, and deploy, rollback, prune, doctor, diff, list, status and history all work."""
    (app / "deep.py").write_text(DEEP_PY)
    build = f"{sys.executable} deep.py {DEPTH} {outside}"
    deep = deploy_ok(cli, root, app, "--build", build)
    assert _depth_of(root / "releases" / deep / "deep") == DEPTH
    (app / "index.html").write_text("v2\n")
    second = deploy_ok(cli, root, app, "--keep", "1")

    refused = cli("diff", deep, second, "--root", str(root))
    assert refused.returncode == 3, refused.stderr
    assert refused.stderr.count("\n") == 1 and len(refused.stderr) < 300, refused.stderr
    assert f"cannot list release {deep}:" in refused.stderr
    assert "nested deeper than 256 levels" in refused.stderr

    (app / "index.html").write_text("v3\n")
    third = deploy_ok(cli, root, app, "--keep", "1")
    assert [e["ids"] for e in history_of(root, "prune")][-1] == [deep]
    cleaner.wait_for_cleaners(root / ".releases" / "trash")
    assert trash_entries(root) == []
    log = (root / ".releases" / cleaner.LOG_NAME).read_text()
    assert re.search(rf"deleted trash/{deep}-[0-9a-f]{{8}} in ", log), log

    _ok(cli("rollback", "--root", str(root)))
    assert current_id(root) == second
    _ok(cli("prune", "--root", str(root), "--keep", "1"))
    (app / "index.html").write_text("v4\n")
    fourth = deploy_ok(cli, root, app, "--keep", "2")
    assert "index.html" in _ok(cli("diff", third, fourth, "--root", str(root)))
    for command in ("list", "status", "history"):
        _ok(cli(command, "--root", str(root)))
    findings = _doctor(cli, root)
    assert findings["trash"]["ok"], findings["trash"]
    assert [f for f in findings.values() if not f["ok"]] == []
    assert (outside / "precious.txt").exists() and (outside / "deep" / "also.txt").exists()


def _plant_deep(parent: Path, name: str, out: Path, mode: str) -> Path:
    """`parent/name/deep/...` built by DEEP_PY (as a build would), returned."""
    (parent / name).mkdir(parents=True)
    args = [sys.executable, "-c", DEEP_PY, str(DEPTH), str(out), mode]
    subprocess.run(args, cwd=parent / name, check=True)
    return parent / name


def test_a_deep_read_only_tree_a_killed_prune_left_in_the_trash_never_blocks_rollback(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """A prune killed after renaming a release into the trash left a 5,000-level tree with
    read-only directories there: the next `rollback` deletes it, says so, records
    `prune_interrupted`, and rolls back."""
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app, "--force")
    gone = "20200101T000000Z"
    _plant_deep(root / ".releases" / "trash", f"{gone}-0badc0de", outside, "555")

    result = cli("rollback", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert f"finished deleting {gone} (an interrupted prune)" in result.stdout + result.stderr
    assert trash_entries(root) == []
    assert [e["id"] for e in history_of(root, "prune_interrupted")] == [gone]
    assert current_id(root) == first != second
    assert (outside / "precious.txt").exists() and (outside / "deep" / "also.txt").exists()


def _as_nobody(
    script: str, *args: str, pass_fds: tuple[int, ...] = (), cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `script` in a real process that has dropped to the `nobody` user (modules are
    imported first: this interpreter lives where `nobody` may not read)."""
    nobody = pwd.getpwnam("nobody")
    prelude = (
        "import os, sys\n"
        "from releases_cli.core import erase, prune, layout\n"
        f"os.setgroups([]); os.setgid({nobody.pw_gid}); os.setuid({nobody.pw_uid})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", prelude + script, *args],
        pass_fds=pass_fds,
        cwd=cwd,  # entered before dropping to nobody: its parents need not be searchable
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _nobodys_deep_tree(work: Path, fd: int) -> None:
    """`work/tree`, made by `nobody`: DEEP_PY's tree with 0o555 directories, and `closed/`
    (0o000) holding a directory."""
    nobody = pwd.getpwnam("nobody")
    os.chown(work, nobody.pw_uid, nobody.pw_gid)
    build = (
        "os.fchdir(int(sys.argv[4])); os.mkdir('tree'); os.chdir('tree')\n"
        f"exec({DEEP_PY!r})\n"
        "os.mkdir('closed'); os.mkdir('closed/inner'); os.chmod('closed', 0)\n"
    )
    made = _as_nobody(build, str(DEPTH), "/etc", "555", str(fd), pass_fds=(fd,))
    assert made.returncode == 0, made.stderr


def test_a_deep_tree_of_read_only_directories_is_deleted_by_its_non_root_owner(
    tmp_path: Path,
) -> None:
    """Not root: a 5,000-level tree owned by `nobody`, whose directories are 0o555 (and one
    0o000), is deleted by `nobody` through erase.remove; links in it are not followed."""
    work = tmp_path / "work"
    work.mkdir()
    nobody = pwd.getpwnam("nobody")
    fd = os.open(work, DIR_FLAGS)
    try:
        _nobodys_deep_tree(work, fd)
        assert os.stat(work / "tree").st_uid == nobody.pw_uid
        assert os.stat(work / "tree" / "deep").st_mode & 0o777 == 0o555
        assert os.stat(work / "tree" / "closed").st_mode & 0o777 == 0

        deleted = _as_nobody("erase.remove(int(sys.argv[1]), 'tree')", str(fd), pass_fds=(fd,))
        assert deleted.returncode == 0, deleted.stderr
        assert os.listdir(work) == []
        assert os.path.exists("/etc/passwd")
    finally:
        os.close(fd)


def test_what_its_owner_cannot_delete_at_the_bottom_of_a_deep_tree_is_named_in_one_line(
    tmp_path: Path,
) -> None:
    """Not root: root's directory at the bottom of `nobody`'s 5,000-level tree stays (with the
    path down to it); everything else goes, and the error is one short line naming both ends
    of that path."""
    work = tmp_path / "work"
    work.mkdir()
    fd = os.open(work, DIR_FLAGS)
    try:
        _nobodys_deep_tree(work, fd)
        bottom = os.open(work / "tree" / "deep", DIR_FLAGS)
        for _ in range(DEPTH):
            below = os.open("d", DIR_FLAGS, dir_fd=bottom)
            os.close(bottom)
            bottom = below
        os.mkdir("roots", dir_fd=bottom)
        os.close(os.open("roots/file", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=bottom))
        os.close(bottom)

        script = "try: erase.remove(int(sys.argv[1]), 'tree')\nexcept OSError as e: print(e)"
        result = _as_nobody(script, str(fd), pass_fds=(fd,))
        assert result.returncode == 0, result.stderr
        expected = f"tree/deep/d/d/...{DEPTH - 3} more levels.../d/roots/file: Permission denied"
        assert result.stdout.startswith(expected), result.stdout
        assert result.stdout.count("\n") == 1 and len(result.stdout) < 200, result.stdout
        assert sorted(os.listdir(work / "tree")) == ["deep"]
        assert _depth_of(work / "tree" / "deep") == DEPTH
        assert os.listdir(work / "tree" / "deep" / "d") == ["d"]  # its file and link went
    finally:
        os.close(fd)


def test_a_trash_entry_that_cannot_be_deleted_is_left_reported_and_blocks_nothing(
    cli: Cli, root: Path, app: Path
) -> None:
    """A trash entry holding a mount point (a filesystem the tool does not own): no command
    enters or deletes it, every command still works (one warning line naming it), and
    `doctor` reports it with the fix. Once it is unmounted, the next prune deletes it."""
    first = deploy_ok(cli, root, app)
    deploy_ok(cli, root, app, "--force")
    entry = root / ".releases" / "trash" / "20200101T000000Z-0badc0de"
    (entry / "keep").mkdir(parents=True)
    (entry / "file").write_text("x\n")
    with tmpfs(entry / "keep", "1m") as mounted:
        (mounted / "theirs.txt").write_text("not ours\n")
        for command in (["rollback"], ["prune", "--keep", "1"]):
            result = cli(*command, "--root", str(root))
            assert result.returncode == 0, result.stderr
            warnings = [line for line in result.stderr.splitlines() if "trash/" in line]
            assert len(warnings) == 1, result.stderr
            assert "is a mount point (not deleted)" in warnings[0]
            assert "left in .releases/trash (see `releases doctor`)" in warnings[0]
        assert (mounted / "theirs.txt").read_text() == "not ours\n"
        assert not (entry / "file").exists()  # the rest of the entry went
        assert current_id(root) == first
        (app / "index.html").write_text("v2\n")
        deploy_ok(cli, root, app)

        trash = _doctor(cli, root, status=10)["trash"]
        assert not trash["ok"]
        assert "trash/20200101T000000Z-0badc0de" in trash["message"]
        assert f"rm -rf --one-file-system -- {entry}" in trash["fix"]
        assert f"releases prune --root {root}" in trash["fix"]
        text = cli("doctor", "--root", str(root))
        assert text.returncode == 10 and "trash/20200101T000000Z-0badc0de" in text.stdout

    _ok(cli("prune", "--root", str(root), "--keep", "5"))
    assert trash_entries(root) == []
    assert _doctor(cli, root)["trash"]["ok"]


def test_a_bind_mount_inside_a_pruned_release_never_empties_its_source(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """A directory bind-mounted into a release (uploads, from the same filesystem: the device
    number is the same, only the mount differs) is never entered when the release is pruned:
    what it shows lives outside the deploy root. The rest of the release goes."""
    old = deploy_ok(cli, root, app)
    uploads = tmp_path / "uploads"
    (uploads / "u1").mkdir(parents=True)
    (uploads / "u1" / "img.jpg").write_text("photo\n")
    with bind(uploads, root / "releases" / old / "public" / "uploads"):
        deploy_ok(cli, root, app, "--force")
        deploy_ok(cli, root, app, "--force")  # `old` is no longer the rollback target
        result = cli("prune", "--root", str(root), "--keep", "1")
        assert result.returncode == 0, result.stderr
        assert "is a mount point (not deleted)" in result.stderr
        (entry,) = trash_entries(root)
        for _ in range(2):  # every later command retries the trash: still never through it
            deploy_ok(cli, root, app, "--force")
        assert (uploads / "u1" / "img.jpg").read_text() == "photo\n"
        in_trash = root / ".releases" / "trash" / entry / "public" / "uploads"
        subprocess.run(["umount", "-l", str(in_trash)], check=True)
    _ok(cli("prune", "--root", str(root), "--keep", "5"))
    assert trash_entries(root) == []
    assert (uploads / "u1" / "img.jpg").read_text() == "photo\n"


def test_a_cleaner_that_cannot_delete_all_of_a_pruned_release_logs_it_and_the_deploy_succeeds(
    cli: Cli, root: Path, app: Path
) -> None:
    """A filesystem mounted inside a release that a deploy prunes: the detached cleaner
    deletes the rest, leaves the mount and its files alone, and says so in cleaner.log; the
    deploy exits 0 and `doctor` reports the entry."""
    old = deploy_ok(cli, root, app)
    (app / "index.html").write_text("v2\n")
    deploy_ok(cli, root, app, "--keep", "1")
    mountpoint = root / "releases" / old / "mnt"
    with tmpfs(mountpoint, "1m") as mounted:
        (mounted / "theirs.txt").write_text("not ours\n")
        moved = None
        try:
            (app / "index.html").write_text("v3\n")
            result = cli("deploy", "--root", str(root), "--source", str(app), "--keep", "1")
            assert result.returncode == 0, result.stderr
            cleaner.wait_for_cleaners(root / ".releases" / "trash")
            (entry,) = trash_entries(root)
            moved = root / ".releases" / "trash" / entry / "mnt"
            assert entry.startswith(f"{old}-")
            assert (moved / "theirs.txt").read_text() == "not ours\n"
            assert sorted(os.listdir(root / ".releases" / "trash" / entry)) == ["mnt"]
            log = (root / ".releases" / cleaner.LOG_NAME).read_text()
            assert f"could not delete trash/{entry}/mnt: is a mount point (not deleted)" in log
            assert not _doctor(cli, root, status=10)["trash"]["ok"]
        finally:
            if moved is not None:  # the mount moved with the release
                subprocess.run(["umount", "-l", str(moved)], check=False)
    _ok(cli("prune", "--root", str(root), "--keep", "1"))
    assert trash_entries(root) == []


def test_a_trash_entry_another_user_owns_is_left_by_a_non_root_prune(
    root: Path, app: Path, cli: Cli
) -> None:
    """Not root: emptying a trash whose entry holds root's files deletes what it can, leaves
    the rest with one warning line, and raises nothing (the command goes on)."""
    deploy_ok(cli, root, app)
    nobody = pwd.getpwnam("nobody")
    entry = root / ".releases" / "trash" / "20200101T000000Z-0badc0de"
    (entry / "roots").mkdir(parents=True)
    (entry / "roots" / "file").write_text("x\n")
    (entry / "mine").mkdir()
    (entry / "mine" / "file").write_text("x\n")
    for path in (root, root / ".releases", root / ".releases" / "trash", entry, entry / "mine"):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    os.chown(entry / "mine" / "file", nobody.pw_uid, nobody.pw_gid)
    script = "print(prune.empty_trash(layout.DeployRoot(layout.Path('.'))))"
    result = _as_nobody(script, cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
    (line,) = result.stderr.splitlines()
    assert "could not delete trash/20200101T000000Z-0badc0de/roots/file: Permission denied" in line
    assert not (entry / "mine").exists()
    assert (entry / "roots" / "file").exists()


def test_a_git_commit_nested_deeper_than_256_levels_is_refused_in_one_line(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    """A commit holding a path 300 directories deep: the export refuses it up front (exit 8,
    one short line naming both ends of the path), nothing goes live, and the failed release
    is pruned like any other."""
    repo = init_repo(tmp_path / "upstream")
    commit(repo, {"index.html": "v1\n", "/".join(["d"] * 300) + "/f": "x\n"}, "deep")
    result = cli("deploy", "--root", str(root), "--repo", str(repo))
    assert result.returncode == 8, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("releases: error:")]
    assert "refusing archive entry d/d/d/...251 more levels.../d/d/d:" in line, line  # d 257
    assert "nested deeper than 256 levels" in line and len(line) < 300, line
    assert not (root / "current").exists()
    _ok(cli("prune", "--root", str(root), "--keep", "1"))
    assert os.listdir(root / "releases") == []
