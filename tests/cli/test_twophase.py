"""Two-phase deploy: `releases stage` builds without switching, `releases switch ID` activates."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from gitrepos import commit, init_repo
from helpers import Cli, argv, current_id, deploy_ok, history_of, later_id, meta_of, tree_state

FUTURE_ID = later_id()  # newer than every deploy of a test


def _stage(cli: Cli, root: Path, app: Path, *extra: str) -> str:
    result = cli("stage", "--root", str(root), "--source", str(app), *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def _statuses(cli: Cli, root: Path) -> dict[str, str]:
    result = cli("list", "--root", str(root), "--json")
    assert result.returncode == 0, result.stderr
    return {r["id"]: r["status"] for r in json.loads(result.stdout)["releases"]}


def _unchanged(before: dict[str, str], after: dict[str, str]) -> bool:
    for state in (before, after):
        state.pop(".releases/lock.info", None)
    return before == after


def test_stage_builds_without_switching_and_prints_only_the_id(
    cli: Cli, root: Path, app: Path
) -> None:
    """stage: a complete release, `current` untouched, build output on stderr, stdout = the id."""
    live = deploy_ok(cli, root, app)
    (app / "index.html").write_text("v2\n")
    result = cli(
        "stage", "--root", str(root), "--source", str(app), "--build", "echo built > out.txt"
    )
    assert result.returncode == 0, result.stderr
    staged = result.stdout.strip()
    assert len(result.stdout.splitlines()) == 1 and staged != live
    assert "build: $ echo built > out.txt" in result.stderr
    assert current_id(root) == live
    assert (root / "current" / "index.html").read_text() == "v1\n"
    assert (root / "releases" / staged / "out.txt").read_text() == "built\n"
    meta = meta_of(root, staged)
    assert meta["status"] == "complete"
    assert _statuses(cli, root) == {staged: "staged", live: "current"}
    assert [e["event"] for e in history_of(root)][-2:] == ["deploy_started", "stage_finished"]


def test_switch_makes_staged_release_live_and_records_it(cli: Cli, root: Path, app: Path) -> None:
    """switch ID: `current` moves to the staged release, the history says so, `--json` names the
    release it replaced, rollback goes back."""
    first = deploy_ok(cli, root, app)
    (app / "index.html").write_text("v2\n")
    staged = _stage(cli, root, app)
    result = cli("switch", staged, "--root", str(root), "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["version"], shown["id"], shown["previous"], shown["pruned"]) == (
        1,
        staged,
        first,
        [],
    )
    assert (root / "current" / "index.html").read_text() == "v2\n"
    switch = [e for e in history_of(root) if e["event"] == "switch"][-1]
    assert switch["id"] == staged and switch["previous"] == first
    assert history_of(root)[-1]["event"] == "switch_finished"
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert current_id(root) == first


def test_staged_release_is_never_a_rollback_target_without_to(
    cli: Cli, root: Path, app: Path
) -> None:
    """A, B live in turn, C staged: rollback goes to A (not C); `--to C` is allowed."""
    a = deploy_ok(cli, root, app)
    b = deploy_ok(cli, root, app)
    c = _stage(cli, root, app)
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert current_id(root) == a
    result = cli("rollback", "--root", str(root))
    assert result.returncode == 4, "nothing was live before A: C must not be picked"
    assert cli("rollback", "--root", str(root), "--to", c).returncode == 0
    assert current_id(root) == c
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert current_id(root) == a, "the release live before C was A"
    assert b != c


def test_prune_waits_for_the_switch(cli: Cli, root: Path, app: Path) -> None:
    """keep = 1: a stage prunes nothing and a prune before the switch keeps the staged release;
    the switch prunes what is beyond keep (current and rollback target stay)."""
    (root / "releases.toml").write_text("keep = 1\n")
    a = deploy_ok(cli, root, app)
    b = deploy_ok(cli, root, app)
    c = _stage(cli, root, app)
    assert sorted(p.name for p in (root / "releases").iterdir()) == [a, b, c]
    result = cli("prune", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert f"kept {c} (staged" in result.stdout
    assert sorted(p.name for p in (root / "releases").iterdir()) == [a, b, c]
    result = cli("switch", c, "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert f"switched to {c}" in result.stdout and "pruned 1" in result.stdout
    assert sorted(p.name for p in (root / "releases").iterdir()) == [b, c]


def test_stage_with_id_uses_it_and_refuses_reuse_or_older(cli: Cli, root: Path, app: Path) -> None:
    """--id is used as given; an id already used or older than the newest is refused (exit 3),
    changing nothing."""
    deploy_ok(cli, root, app)
    assert _stage(cli, root, app, "--id", FUTURE_ID) == FUTURE_ID
    assert (root / "releases" / FUTURE_ID / "index.html").is_file()
    for wanted, message in [
        (FUTURE_ID, "already exists"),
        ("20200101T000000Z", "ids must increase"),
        ("../../etc", "malformed release id"),
    ]:
        before = tree_state(root)
        result = cli("stage", "--root", str(root), "--source", str(app), "--id", wanted)
        assert result.returncode == 3, result.stderr
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert _unchanged(before, tree_state(root))


def test_a_root_whose_ids_ran_out_refuses_with_one_line(cli: Cli, root: Path, app: Path) -> None:
    """A root that already holds the last id of the format (99991231T235959Z-9999, left from
    before far-ahead ids were refused): a deploy exits 7 with one line naming it and `current`
    stays, rather than making a release under a malformed id."""
    first = deploy_ok(cli, root, app)
    (root / "releases" / "99991231T235959Z-9999").mkdir()
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 7, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [
        "releases: error: no release id is left after 99991231T235959Z-9999: an id far ahead of "
        "the clock used up the id format (artifact and --id ids are refused that far ahead)"
    ]
    assert current_id(root) == first
    assert sorted(p.name for p in (root / "releases").iterdir()) == [first, "99991231T235959Z-9999"]


def test_id_of_a_pruned_release_is_not_reused(cli: Cli, root: Path, app: Path) -> None:
    """A failed staged id that prune deleted is still known from the history: refused."""
    result = cli(
        "stage", "--root", str(root), "--source", str(app), "--id", FUTURE_ID, "--build", "false"
    )
    assert result.returncode == 6
    assert cli("prune", "--root", str(root)).returncode == 0
    assert not (root / "releases" / FUTURE_ID).exists()
    result = cli("stage", "--root", str(root), "--source", str(app), "--id", FUTURE_ID)
    assert result.returncode == 3 and "already exists" in result.stderr


def test_failed_stage_leaves_current_and_cannot_be_switched_to(
    cli: Cli, root: Path, app: Path
) -> None:
    """A failing build during stage: exit 6, current unchanged, release failed, switch refused."""
    live = deploy_ok(cli, root, app)
    result = cli(
        "stage", "--root", str(root), "--source", str(app), "--id", FUTURE_ID, "--build", "exit 7"
    )
    assert result.returncode == 6 and "'exit 7'" in result.stderr
    assert result.stdout == ""
    assert current_id(root) == live
    result = cli("switch", FUTURE_ID, "--root", str(root))
    assert result.returncode == 3 and "is failed, not complete" in result.stderr
    assert current_id(root) == live


def test_switch_refuses_a_release_whose_stage_was_killed(cli: Cli, root: Path, app: Path) -> None:
    """A stage killed mid-build leaves an incomplete release; switch refuses it (exit 3) and says
    what recovery found."""
    live = deploy_ok(cli, root, app)
    stage = argv("stage", root=root, source=app, id=FUTURE_ID, build="true")
    result = cli(*stage, env={"RELEASES_FAULT": "mid_build"})
    assert result.returncode == -9
    result = cli("switch", FUTURE_ID, "--root", str(root))
    assert result.returncode == 3 and "is incomplete, not complete" in result.stderr
    assert f"deploy of {FUTURE_ID} was interrupted" in result.stderr
    assert current_id(root) == live


@pytest.mark.parametrize(
    ("target", "code", "message"),
    [
        ("../../etc", 3, "malformed release id"),
        ("20991231T235959Z", 4, "does not exist"),
        ("CURRENT", 3, "already current"),
    ],
)
def test_switch_bad_ids_change_nothing(
    cli: Cli, root: Path, app: Path, target: str, code: int, message: str
) -> None:
    """Malformed, unknown or already-live ids: one-line error, documented code, no change."""
    live = deploy_ok(cli, root, app)
    _stage(cli, root, app)
    target = live if target == "CURRENT" else target
    before = tree_state(root)
    result = cli("switch", target, "--root", str(root))
    assert result.returncode == code, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert _unchanged(before, tree_state(root))


def test_switch_on_a_directory_that_is_not_a_deploy_root(cli: Cli, tmp_path: Path) -> None:
    """switch in an empty directory: exit 4, nothing created."""
    result = cli("switch", FUTURE_ID, "--root", str(tmp_path))
    assert result.returncode == 4 and "not a deploy root" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_switch_killed_after_the_rename_is_recorded_by_the_next_command(
    cli: Cli, root: Path, app: Path
) -> None:
    """SIGKILL right after `current` moved: current is the staged (complete) release, and the next
    state change records the switch the history missed, so rollback still goes back."""
    first = deploy_ok(cli, root, app)
    staged = _stage(cli, root, app)
    result = cli("switch", staged, "--root", str(root), env={"RELEASES_FAULT": "after_switch"})
    assert result.returncode == -9
    assert current_id(root) == staged
    result = cli("rollback", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert f"history did not record that {staged} is live" in result.stderr
    assert current_id(root) == first


def test_stage_builds_like_deploy_with_shared_files(cli: Cli, root: Path, app: Path) -> None:
    """stage applies releases.toml as deploy does: shared files are linked before the build
    (which reads them), and a missing shared file fails before anything is made (exit 4)."""
    (root / "releases.toml").write_text('[shared]\nfiles = [".env"]\n')
    before = tree_state(root)
    result = cli("stage", "--root", str(root), "--source", str(app))
    assert result.returncode == 4 and "shared file .env is missing" in result.stderr
    assert tree_state(root) == before
    (root / "shared").mkdir()
    (root / "shared" / ".env").write_text("SECRET=1\n")
    staged = _stage(cli, root, app, "--build", "cp .env seen")
    release = root / "releases" / staged
    assert os.readlink(release / ".env") == "../../shared/.env"
    assert (release / "seen").read_text() == "SECRET=1\n"


def test_switch_restarts_and_switches_back_when_health_fails(
    cli: Cli, root: Path, app: Path
) -> None:
    """switch runs the restart command for the new release, then the health check; a health URL
    where nothing listens: exit 9, `current` back on the previous release, the staged release
    marked failed (never a target again), nothing pruned."""
    first = deploy_ok(cli, root, app)
    staged = _stage(cli, root, app)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/"
        (root / "releases.toml").write_text(
            "keep = 1\n"
            '[restart]\ncommand = "echo $RELEASE_ID >> restarted"\n'
            f'[health]\nurl = "{url}"\ntimeout = 0.5\ninterval = 0.1\n'
        )
        result = cli("switch", staged, "--root", str(root))
    finally:
        closed.close()
    assert result.returncode == 9, result.stderr
    assert f"switched back to {first}" in result.stderr
    assert current_id(root) == first
    assert (root / "restarted").read_text().split() == [staged, first]
    assert _statuses(cli, root) == {staged: "failed", first: "current"}
    assert sorted(p.name for p in (root / "releases").iterdir()) == sorted([first, staged])
    result = cli("switch", staged, "--root", str(root))
    assert result.returncode == 3 and "is failed, not complete" in result.stderr


def test_stage_runs_build_hooks_and_switch_runs_switch_hooks(
    cli: Cli, root: Path, app: Path
) -> None:
    """Hooks from releases.toml: before/after_build run during stage (output on stderr, stdout
    still just the id), before/after_switch during switch."""
    deploy_ok(cli, root, app)
    (root / "releases.toml").write_text(
        "[hooks]\n"
        'before_build = ["echo before_build >> $DEPLOY_ROOT/hooks"]\n'
        'after_build = ["echo after_build >> $DEPLOY_ROOT/hooks"]\n'
        'before_switch = ["echo before_switch >> $DEPLOY_ROOT/hooks"]\n'
        'after_switch = ["echo after_switch >> $DEPLOY_ROOT/hooks"]\n'
    )
    result = cli("stage", "--root", str(root), "--source", str(app))
    assert result.returncode == 0, result.stderr
    staged = result.stdout.strip()
    assert len(result.stdout.splitlines()) == 1
    assert (root / "hooks").read_text().split() == ["before_build", "after_build"]
    assert cli("switch", staged, "--root", str(root)).returncode == 0
    assert (root / "hooks").read_text().split()[2:] == ["before_switch", "after_switch"]


def test_stage_from_git_repo_and_ref(cli: Cli, tmp_path: Path, app: Path) -> None:
    """stage --repo --ref exports that commit (revision in the meta), with the same id on two
    hosts; a ref that does not exist fails (exit 4) before any release is made, and --source with
    --repo is refused (exit 3)."""
    repo = init_repo(tmp_path / "upstream")
    first = commit(repo, {"index.html": "v1\n"}, "first")
    commit(repo, {"index.html": "v2\n"}, "second")
    for host in ("a", "b"):
        root = tmp_path / host
        root.mkdir()
        result = cli(
            "stage", "--root", str(root), "--repo", str(repo), "--ref", first, "--id", FUTURE_ID
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"{FUTURE_ID}\n"
        assert (root / "releases" / FUTURE_ID / "index.html").read_text() == "v1\n"
        meta = meta_of(root, FUTURE_ID)
        assert meta["source"]["revision"] == first
    root = tmp_path / "a"
    before = tree_state(root / "releases")
    result = cli("stage", "--root", str(root), "--repo", str(repo), "--ref", "no-such-branch")
    assert result.returncode == 4, result.stderr
    assert tree_state(root / "releases") == before
    result = cli("stage", "--root", str(root), "--repo", str(repo), "--source", str(app))
    assert result.returncode == 3 and "mutually exclusive" in result.stderr
