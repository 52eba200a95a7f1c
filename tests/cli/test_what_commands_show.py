"""What `list`, `history` and `rollback` show: list's SOURCE column and short failure reasons,
`ref` in list --json, history's details whole when not on a terminal, `rollback --json` in
switch's shape, and build logs pruned with their releases."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gitrepos import commit, init_repo
from helpers import Cli, cli_env, current_id, deploy_ok, on_a_terminal

LONG = "x" * 150  # a build command whose failure message is longer than any clipped cell


def _deploy_tag(cli: Cli, root: Path) -> tuple[Path, str]:
    """A git repository with tag v2, deployed into `root` with --ref v2: (repo, release id)."""
    repo = init_repo(root.parent / "repo")
    commit(repo, {"index.html": "v2\n"}, "second")
    subprocess.run(["git", "-C", str(repo), "tag", "v2"], check=True)
    result = cli("deploy", "--root", str(root), "--repo", str(repo), "--ref", "v2")
    assert result.returncode == 0, result.stderr
    return repo, current_id(root)


def _table_row(output: str, release_id: str) -> str:
    return next(line for line in output.splitlines() if line.split()[0] == release_id)


def test_list_shows_the_source_and_why_a_release_failed(cli: Cli, root: Path, app: Path) -> None:
    """SOURCE is the directory a release came from, or repo@ref for git; a failed row says why
    in short (the failing command and its exit code), without the log path."""
    from_dir = deploy_ok(cli, root, app)
    repo, from_git = _deploy_tag(cli, root)
    failed = cli("deploy", "--root", str(root), "--source", str(app), "--build", "exit 3")
    assert failed.returncode == 6
    listed = cli("list", "--root", str(root))
    assert listed.returncode == 0, listed.stderr
    assert "SOURCE" in listed.stdout.splitlines()[0]
    assert f"  {app}  " in _table_row(listed.stdout, from_dir)
    assert f"  {repo}@v2  " in _table_row(listed.stdout, from_git)
    failed_row = next(line for line in listed.stdout.splitlines() if " failed: " in line)
    assert "failed: build command 'exit 3' failed with exit code 3" in failed_row
    assert ".log" not in failed_row and "current is unchanged" not in failed_row


def test_list_json_has_the_ref(cli: Cli, root: Path, app: Path) -> None:
    """list --json gives each release's `ref`: the tag asked for, null for a directory."""
    from_dir = deploy_ok(cli, root, app)
    _, from_git = _deploy_tag(cli, root)
    document = json.loads(cli("list", "--root", str(root), "--json").stdout)
    refs = {r["id"]: r["ref"] for r in document["releases"]}
    assert refs == {from_git: "v2", from_dir: None}


def _history_on_a_terminal(root: Path) -> str:
    """`releases history` with its stdout on a pseudo-terminal (a real process)."""
    env = cli_env({"COLUMNS": "300"})
    return on_a_terminal("history", "--root", str(root), env=env, stderr=False)[1].decode()


def test_history_never_truncates_when_not_a_terminal(cli: Cli, root: Path, app: Path) -> None:
    """A long failure reason is printed whole into a pipe (or a file), and cut with an ellipsis
    on a terminal."""
    deploy_ok(cli, root, app)
    command = f"echo {LONG}; exit 1"
    assert cli("deploy", "--root", str(root), "--source", str(app), "--build", command).returncode
    piped = cli("history", "--root", str(root))
    assert piped.returncode == 0, piped.stderr
    assert LONG in piped.stdout and "…" not in piped.stdout
    on_terminal = _history_on_a_terminal(root)
    assert "failed" in on_terminal and LONG not in on_terminal and "…" in on_terminal


def test_rollback_json_has_switch_shape(cli: Cli, root: Path, app: Path) -> None:
    """rollback --json prints one line on stdout with exactly switch --json's keys (pruned
    empty: a rollback deletes nothing); its progress goes to stderr."""
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    staged = cli("stage", "--root", str(root), "--source", str(app)).stdout.strip()
    switched = cli("switch", staged, "--root", str(root), "--json")
    assert switched.returncode == 0, switched.stderr
    rolled = cli("rollback", "--root", str(root), "--to", first, "--json")
    assert rolled.returncode == 0, rolled.stderr
    assert len(rolled.stdout.splitlines()) == 1
    document = json.loads(rolled.stdout)
    assert set(document) == set(json.loads(switched.stdout))
    assert document["id"] == first and document["previous"] == staged
    assert document["pruned"] == [] and document["version"] == 1
    assert "switch" in rolled.stderr  # the progress, not on stdout
    assert current_id(root) == first != second


def test_build_logs_go_with_their_releases(cli: Cli, root: Path, app: Path) -> None:
    """A failed release's log goes when the next deploy prunes it; `prune` deletes the logs of
    the complete releases it deletes; the kept releases keep theirs."""
    logs = root / ".releases" / "logs"
    first = deploy_ok(cli, root, app)
    failed = cli("deploy", "--root", str(root), "--source", str(app), "--build", "exit 1")
    assert failed.returncode == 6
    (failed_id,) = {p.stem for p in logs.iterdir()} - {first}
    second = deploy_ok(cli, root, app)
    assert not (root / "releases" / failed_id).exists()
    assert {p.stem for p in logs.iterdir()} == {first, second}
    third = deploy_ok(cli, root, app)
    pruned = cli("prune", "--root", str(root), "--keep", "1")
    assert pruned.returncode == 0, pruned.stderr
    assert f"deleted {first}" in pruned.stdout
    assert {p.stem for p in logs.iterdir()} == {second, third}


def test_a_linked_logs_directory_is_never_followed_by_prune(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """When `.releases/logs` was replaced by a link to a directory elsewhere, prune refuses
    (exit 7, one line naming the link) before deleting anything: no release goes, and a file
    named like a release's log in the linked directory stays."""
    first = deploy_ok(cli, root, app)
    for _ in range(2):
        deploy_ok(cli, root, app)
    logs = root / ".releases" / "logs"
    for entry in logs.iterdir():
        entry.unlink()
    logs.rmdir()
    (outside / f"{first}.log").write_text("not ours\n")
    logs.symlink_to(outside)
    pruned = cli("prune", "--root", str(root), "--keep", "1")
    assert pruned.returncode == 7
    assert f"{logs} is a symlink" in pruned.stderr
    assert (root / "releases" / first).is_dir()
    assert (outside / f"{first}.log").read_text() == "not ours\n"
