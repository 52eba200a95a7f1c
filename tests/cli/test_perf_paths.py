"""Speed-motivated changes keep their behaviour: id validation without strptime accepts the same
ids, and pruned trees are deleted outside the lock but still deleted (tests/cli/test_cleaner.py:
by a detached cleaner after a deploy)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from gitrepos import commit, git, init_repo
from helpers import REPO, Cli, current_id, deploy_ok, meta_of, run_cli
from hypothesis import given
from hypothesis import strategies as st

from releases_cli.core import cleaner, ids, lock
from releases_cli.core.clock import parse_iso
from releases_cli.core.compat import UTC
from releases_cli.core.layout import DeployRoot
from releases_cli.core.prune import delete_pruned, empty_trash, prune_releases


def _strptime_ok(stamp: str) -> bool:
    try:
        datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
    except ValueError:
        return False
    return True


@given(st.text(alphabet="0123456789", min_size=14, max_size=14))
def test_id_validation_matches_strptime(digits: str) -> None:
    """Any 14 digits make a valid id exactly when strptime accepts them as a timestamp
    (month 13, February 30, hour 24 and second 60 are refused either way)."""
    stamp = f"{digits[:8]}T{digits[8:]}Z"
    assert ids.is_valid_id(stamp) == _strptime_ok(stamp)
    if _strptime_ok(stamp):
        expected = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        assert ids.id_time(stamp) == expected
        assert ids.id_time(f"{stamp}-7") == expected


def test_prune_under_the_lock_only_moves_trees_to_the_trash(
    cli: Cli, root: Path, app: Path
) -> None:
    """Inside the locked section a pruned release leaves releases/ at once (renamed into the
    trash, files intact, held by this process so no other deleter touches it); the deletion
    itself runs after the lock is released."""
    old = deploy_ok(cli, root, app)
    for _ in range(3):
        deploy_ok(cli, root, app)
    deploy_root = DeployRoot(root)
    with lock.hold(deploy_root):
        result = prune_releases(deploy_root, keep=1)
        assert old in [i for i, _ in result.deleted]
        assert not (root / "releases" / old).exists()
        trashed = [p for p in deploy_root.trash.iterdir() if p.name.rpartition("-")[0] == old]
        assert len(trashed) == 1 and (trashed[0] / "index.html").read_text() == "v1\n"
        assert empty_trash(deploy_root) == [], "a held entry is not another deleter's"
        assert trashed[0].exists()
    delete_pruned(deploy_root, result, detached=False)
    assert list(deploy_root.trash.iterdir()) == []


def test_prune_and_deploy_leave_the_trash_empty(cli: Cli, root: Path, app: Path) -> None:
    """What a deploy pruned is deleted by its cleaner; `releases prune` deletes what it pruned
    before it returns: nothing is left in the trash either way."""
    for _ in range(3):
        deploy_ok(cli, root, app, "--keep", "1")
    trash = root / ".releases" / "trash"
    cleaner.wait_for_cleaners(trash)
    assert not trash.exists() or list(trash.iterdir()) == []
    deploy_ok(cli, root, app)
    deploy_ok(cli, root, app)
    result = cli("prune", "--root", str(root), "--keep", "1")
    assert result.returncode == 0, result.stderr
    assert "deleted" in result.stdout
    assert list(trash.iterdir()) == []
    assert len(list((root / "releases").iterdir())) == 2


@pytest.fixture
def two_releases(cli: Cli, root: Path, app: Path) -> tuple[Path, str, str]:
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    return root, first, second


_PROBE = """
import sys
sys.argv = ["releases", *sys.argv[1:]]
from releases_cli.cli.app import main
try:
    main()
except SystemExit:
    pass
heavy = {m.split(".")[0] for m in sys.modules} & {"pydantic", "git", "rich", "humanize"}
# The build-side code (the Next.js preset, static sharing, the tree walker): a switch of
# `current` has no use for it. (Not `tempfile`: filelock 4.1, the last for Python 3.10,
# imports it for the lock every command takes.)
nextjs = {"releases_cli.nextjs.preset", "releases_cli.nextjs.static_share"}
build_side = nextjs | {"releases_cli.core.tree"}
heavy = sorted(heavy | (set(sys.modules) & build_side))
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


def _heavy_after(
    *args: str, home: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `releases ARGS` in a real process; the heavy modules loaded once it is done."""
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"} | ({"HOME": str(home)} if home else {})
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"HEAVY=(.*)", result.stderr)
    assert found is not None, result.stderr
    return result, set(filter(None, found.group(1).split(",")))


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["rollback"], set()),
        (["status"], set()),
        (["list", "--json"], set()),
        (["list"], {"humanize"}),
    ],
)
def test_waited_on_commands_do_not_import_heavy_modules(
    two_releases: tuple[Path, str, str], args: list[str], allowed: set[str]
) -> None:
    """rollback, status and list load neither pydantic, gitpython nor rich (only the table of
    `list` loads humanize), nor the build-side code, measured in the real process after the
    command ran."""
    root = two_releases[0]
    result, heavy = _heavy_after(*args, "--root", str(root))
    assert heavy == allowed
    if args == ["rollback"]:
        assert "rolled back to" in result.stdout


def test_the_process_exits_without_teardown_but_with_all_its_output(root: Path, app: Path) -> None:
    """`python -m releases_cli` ends with os._exit (no interpreter teardown): the build output a
    deploy echoed (far more than a pipe holds) and the summary line still all reach the
    pipes, and a failure's exit code and error line come through unchanged."""
    build = "seq 1 40000 | sed 's/^/line /'"
    result = run_cli(
        "deploy", "--root", str(root), "--source", str(app), "--build", build, "-v", real=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    echoed = re.findall(r"^line (\d+)$", result.stdout + result.stderr, flags=re.M)
    assert echoed == [str(n) for n in range(1, 40001)]
    assert "deployed " in result.stdout.splitlines()[-1]
    failed = run_cli("rollback", "--root", str(root), "--to", "../../etc", real=True)
    assert failed.returncode == 3, failed.stderr
    assert failed.stderr.startswith("releases: error: ")


def test_a_git_deploy_into_an_existing_mirror_does_not_import_gitpython(
    root: Path, tmp_path: Path
) -> None:
    """Once the mirror exists, `deploy --repo` runs git itself: the real process loads no
    gitpython, and the release records the commit's subject, author and time as git shows
    them."""
    repo = init_repo(tmp_path / "upstream")
    commit(repo, {"index.html": "v1\n"}, "first")
    assert run_cli("deploy", "--root", str(root), "--repo", str(repo)).returncode == 0
    sha = commit(repo, {"index.html": "v2\n"}, "second line one\n\nbody")
    _, heavy = _heavy_after("deploy", "--root", str(root), "--repo", str(repo), home=tmp_path)
    assert not heavy & {"pydantic", "git", "rich", "humanize"}  # the build side is expected
    meta = meta_of(root, current_id(root))
    shown = git(repo, "log", "-1", "--format=%an <%ae>|%cI", sha).split("|")
    assert meta["source"]["revision"] == sha
    assert meta["source"]["subject"] == "second line one"
    assert meta["source"]["author"] == shown[0]
    assert parse_iso(meta["source"]["committed_at"]) == parse_iso(shown[1])
