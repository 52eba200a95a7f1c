"""`releases diff` (two release trees compared without following links, dependencies and build
caches left out by default, the git log between their commits) and `releases logs` (a build log
read as data, `--follow` while a deploy runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from gitrepos import commit, init_repo
from helpers import REPO, Cli, cli_env, deploy_ok, start_cli
from jsonshapes import problems

from releases_cli.cli.diffview import DiffJson


def _diff(cli: Cli, root: Path, *args: str) -> DiffJson:
    result = cli("diff", "--root", str(root), "--json", *args)
    assert result.returncode == 0, result.stderr
    document: DiffJson = json.loads(result.stdout)
    assert problems(document, DiffJson) == []
    return document


def test_diff_lists_added_removed_and_changed_files(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """Default: the release live before current vs current. A same-size edit is a change (by
    content), a retargeted link is a change, links are compared by target and never followed
    (an outside file changing behind a link changes nothing), a FIFO is listed and not opened."""
    (app / "same.txt").write_text("aaaa\n")
    (app / "gone.txt").write_text("bye\n")
    (app / "outside-link").symlink_to(outside / "precious.txt")
    first = deploy_ok(cli, root, app)
    (app / "same.txt").write_text("bbbb\n")
    (app / "gone.txt").unlink()
    (app / "new.txt").write_text("hi\n")
    (app / "link-to-index").unlink()
    (app / "link-to-index").symlink_to("pages/about.html")
    (outside / "precious.txt").write_text("changed behind the link\n")
    second = deploy_ok(cli, root, app, "--build", "mkfifo pipe")
    document = _diff(cli, root)
    assert (document["a"], document["b"]) == (first, second)
    assert document["added"] == ["new.txt", "pipe"]
    assert document["removed"] == ["gone.txt"]
    assert document["changed"] == ["link-to-index", "same.txt"]
    assert document["commits"] is None
    text = cli("diff", first, second, "--root", str(root)).stdout
    assert text.splitlines()[0] == f"{first} -> {second}: 2 added, 1 removed, 2 changed"
    assert "M same.txt" in text and "D gone.txt" in text and "A new.txt" in text


def test_diff_leaves_out_dependencies_and_build_caches_unless_all(
    cli: Cli, root: Path, app: Path
) -> None:
    """node_modules (at any depth) and .next/cache differ on every build: left out by default
    and named as left out; --all compares them too."""
    made = ("node_modules/x/v", ".next/cache/c", "sub/node_modules/v")
    build = [f"mkdir -p $(dirname {p}) && echo $RELEASE_ID > {p}" for p in made]
    for _ in range(2):
        deploy_ok(cli, root, app, *(arg for command in build for arg in ("--build", command)))
    default = _diff(cli, root)
    assert default["added"] == default["removed"] == default["changed"] == []
    assert {"node_modules", ".next/cache"} <= set(default["ignored"])
    everything = _diff(cli, root, "--all")
    assert everything["changed"] == [
        "node_modules/x/v",
        ".next/cache/c",
        "sub/node_modules/v",
    ] or set(everything["changed"]) == {"node_modules/x/v", ".next/cache/c", "sub/node_modules/v"}
    assert everything["ignored"] == []


def test_diff_shows_the_git_log_between_two_git_releases(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    """Both releases from the same repository: the commits between their revisions (newest
    first) from the mirror, and the reverse direction as dropped commits."""
    repo = init_repo(tmp_path / "upstream")
    commit(repo, {"index.html": "v1\n"}, "first version")
    result = cli("deploy", "--root", str(root), "--repo", str(repo))
    assert result.returncode == 0, result.stderr
    commit(repo, {"index.html": "v2\n"}, "fix the totals")
    commit(repo, {"extra.txt": "x\n"}, "add extra")
    result = cli("deploy", "--root", str(root), "--repo", str(repo))
    assert result.returncode == 0, result.stderr
    document = _diff(cli, root)
    assert document["commits"] is not None and document["dropped_commits"] is not None
    subjects = [line.split(" ", 1)[1] for line in document["commits"]]
    assert subjects == ["add extra", "fix the totals"]
    assert document["dropped_commits"] == []
    assert set(document["changed"]) >= {"index.html"}
    backwards = _diff(cli, root, str(document["b"]), str(document["a"]))
    assert backwards["dropped_commits"] is not None and len(backwards["dropped_commits"]) == 2
    assert "git: 2 commit(s)" in cli("diff", "--root", str(root)).stdout


def test_diff_refuses_unknown_and_malformed_ids(cli: Cli, root: Path, app: Path) -> None:
    """An unknown id exits 4, a malformed one 3, one line each; a lone release has nothing to
    compare with (exit 4)."""
    release = deploy_ok(cli, root, app)
    assert cli("diff", "--root", str(root)).returncode == 4
    unknown = cli("diff", "20990101T000000Z", release, "--root", str(root))
    assert unknown.returncode == 4 and len(unknown.stderr.splitlines()) == 1
    assert cli("diff", "../../etc", release, "--root", str(root)).returncode == 3


def test_logs_prints_the_newest_or_a_named_release_log(cli: Cli, root: Path, app: Path) -> None:
    """Without an id the newest release's build output; with one, that release's."""
    first = deploy_ok(cli, root, app, "--build", "echo built-one")
    deploy_ok(cli, root, app, "--build", "echo built-two")
    newest = cli("logs", "--root", str(root))
    assert newest.returncode == 0 and "built-two" in newest.stdout
    assert "built-one" not in newest.stdout
    assert "built-one" in cli("logs", first, "--root", str(root)).stdout
    assert cli("logs", "20990101T000000Z", "--root", str(root)).returncode == 4


def test_logs_never_follow_a_planted_link(cli: Cli, root: Path, app: Path, outside: Path) -> None:
    """A link planted as a release's log is refused (exit 7) and its target never printed; a
    FIFO there does not block."""
    release = deploy_ok(cli, root, app, "--build", "echo ok")
    log = root / ".releases" / "logs" / f"{release}.log"
    log.unlink()
    log.symlink_to(outside / "precious.txt")
    result = cli("logs", release, "--root", str(root))
    assert result.returncode == 7 and "do not delete" not in result.stdout
    log.unlink()
    os.mkfifo(log)
    fifo = cli("logs", release, "--root", str(root), timeout=60)
    assert fifo.returncode == 7 and "not a regular file" in fifo.stderr


def test_logs_follow_prints_a_running_deploy_until_it_ends(
    root: Path, app: Path, tmp_path: Path
) -> None:
    """`logs --follow` started mid-build prints what the build writes after it started, and
    exits by itself once the deploy has finished (real processes)."""
    go = tmp_path / "go"
    build = f"echo first-line; while [ ! -e {go} ]; do sleep 0.05; done; echo second-line"
    deploy = start_cli(
        *["deploy", "--root", str(root), "--source", str(app), "--build", build, "-q"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(1200):  # until the build has written its first line (a bound, not a timing)
            logs = (
                list((root / ".releases" / "logs").glob("*.log"))
                if (root / ".releases" / "logs").is_dir()
                else []
            )
            if logs and "first-line" in logs[0].read_text():
                break
            time.sleep(0.05)
        follow = start_cli(
            *["logs", "--root", str(root), "--follow"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert follow.stdout is not None
        assert "first-line" in follow.stdout.readline()
        go.touch()
        out, err = follow.communicate(timeout=120)
        assert follow.returncode == 0, err
        assert "second-line" in out
        assert deploy.wait(timeout=120) == 0
    finally:
        if deploy.poll() is None:
            deploy.kill()


def test_logs_into_a_pipe_closed_early_ends_quietly(cli: Cli, root: Path, app: Path) -> None:
    """`releases logs | head -1` on a long log: the reader stops early, and logs ends with exit
    0 and nothing on stderr (no broken-pipe error)."""
    deploy_ok(cli, root, app, "--build", "seq 1 200000")
    pipeline = f"set -o pipefail; {sys.executable} -m releases_cli logs --root {root} | head -1"
    done = subprocess.run(
        ["bash", "-c", pipeline],
        env=cli_env(None),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "$ seq 1 200000\n" and done.stderr == ""


def test_diff_after_a_failed_deploy_and_a_prune_compares_with_the_release_before(
    cli: Cli, root: Path, app: Path
) -> None:
    """A deploy whose restart fails switches back and is pruned later: `diff` without ids still
    compares the live release with the one live before it (not the failed, deleted one)."""
    a = deploy_ok(cli, root, app)
    (app / "index.html").write_text("v2\n")
    b = deploy_ok(cli, root, app)
    failed = cli("deploy", "--root", str(root), "--source", str(app), "--restart", "exit 1")
    assert failed.returncode == 9, failed.stderr
    assert cli("prune", "--root", str(root)).returncode == 0
    document = _diff(cli, root)
    assert (document["a"], document["b"]) == (a, b)
    assert document["changed"] == ["index.html"]
