"""The release tree is untrusted: what a commit (or a build) puts in a release, symlinks, FIFOs
and crafted records included, never makes our own steps read, write, link or delete outside
the release, block, or eat memory. Real git repositories, real deploys and prunes through the
CLI as users run it; a directory outside the deploy root that must stay exactly as it was."""

from __future__ import annotations

import json
import os
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from gitrepos import git, init_repo
from helpers import REPO, Cli, current_id, releases_argv
from hostile import make_outside, no_hang, run_limited, snapshot

from releases_cli.core.layout import DeployRoot
from releases_cli.nextjs import static_share

# Each build writes a content-named chunk (what `next build` does), like tests/cli/test_skew.py.
CHUNK_BUILD = (
    "mkdir -p .next/static/chunks && "
    'echo "chunk of $RELEASE_ID" > .next/static/chunks/$RELEASE_ID.js'
)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    return make_outside(tmp_path / "outside")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "upstream")


def commit_tree(
    repo: Path, message: str, files: dict[str, str], links: dict[str, str] | None = None
) -> None:
    """Make the repository's tree exactly `files` + `links` (path -> link target) and commit."""
    for entry in repo.iterdir():
        if entry.name != ".git":
            git(repo, "rm", "-rq", "--cached", "--ignore-unmatch", entry.name)
            _remove(entry)
    for name, content in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(content)
    for name, target in (links or {}).items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).symlink_to(target)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            _remove(child)
        path.rmdir()
    else:
        path.unlink()


def deployed(cli: Cli, root: Path, repo: Path, *extra: str) -> CompletedProcess[str]:
    result = cli("deploy", "--root", str(root), "--repo", str(repo), "--force", *extra)
    assert result.returncode == 0, result.stderr
    return result


def deploy(cli: Cli, root: Path, repo: Path, *extra: str) -> str:
    deployed(cli, root, repo, *extra)
    return current_id(root)


def _root(cli: Cli, root: Path, config: str) -> Path:
    assert cli("init", "--root", str(root)).returncode == 0
    (root / "releases.toml").write_text(config)
    return root


def test_planted_static_link_and_manifest_never_make_prune_delete_outside(
    cli: Cli, root: Path, repo: Path, outside: Path
) -> None:
    """The issue's example: a commit makes `.next/static` a symlink to a directory elsewhere
    and ships a `.next/releases-static.json` naming files there as coming from an earlier
    build (and `../` paths). No build command is needed. Pruning that earlier build deletes
    nothing there, later sharing links nothing out of it or into it, and deploys succeed."""
    _root(cli, root, "keep = 1\n[build]\nshare_static = true\n")
    commit_tree(repo, "plain", {"index.html": "v1\n"})
    first = deploy(cli, root, repo, "--build", CHUNK_BUILD)
    crafted = {"x": first, "../secret.txt": first, "../../../outside/secret.txt": first}
    commit_tree(
        repo,
        "hostile",
        {".next/releases-static.json": json.dumps({"v": 1, "linked": crafted})},
        {".next/static": str(outside / "dir")},
    )
    before = snapshot(outside)
    hostile = deploy(cli, root, repo)  # no build: the commit alone
    commit_tree(repo, "plain again", {"index.html": "v2\n"})
    third = deploy(cli, root, repo, "--build", CHUNK_BUILD)  # prunes `first`: keep 1 + previous
    assert not (root / "releases" / first).exists()
    assert (root / "releases" / hostile).is_dir() and third != hostile
    assert snapshot(outside) == before
    shared = {p.name for p in (root / "releases" / third / ".next/static/chunks").iterdir()}
    assert shared == {f"{third}.js"}, "nothing came from the hostile release or the pruned one"


def test_static_link_inside_the_new_release_is_not_linked_through(
    cli: Cli, root: Path, repo: Path, outside: Path
) -> None:
    """A commit with a real `.next/static` whose `chunks` is a symlink out: sharing the earlier
    builds' chunks into it is skipped with a warning, never hardlinked into the outside
    directory, and the deploy succeeds."""
    _root(cli, root, "[build]\nshare_static = true\n")
    commit_tree(repo, "plain", {"index.html": "v1\n"})
    deploy(cli, root, repo, "--build", CHUNK_BUILD)
    commit_tree(
        repo,
        "hostile",
        {".next/static/media/font.woff2": "f"},
        {".next/static/chunks": str(outside / "dir")},
    )
    before = snapshot(outside)
    result = cli("deploy", "--root", str(root), "--repo", str(repo))
    assert result.returncode == 0, result.stderr
    assert "is a symlink" in result.stderr
    assert snapshot(outside) == before


def test_build_cache_copy_never_reads_or_writes_through_a_planted_next(
    cli: Cli, root: Path, repo: Path, outside: Path
) -> None:
    """`.next/cache` reuse, both ends planted: a previous release whose `.next/cache` links
    out is not copied from (the outside files do not reach the new release), and a new release
    whose `.next` links out is not copied into (nothing is created outside). Both deploys
    succeed; `.env.production.local` planted as a link out is not written through either."""
    _root(cli, root, "")
    nextjs = ("--preset", "nextjs", "--build", "true")
    commit_tree(repo, "cache links out", {"index.html": "v1\n"}, {".next/cache": str(outside)})
    first = deployed(cli, root, repo, *nextjs)
    assert "not copying the build cache" not in first.stderr, "nothing to reuse yet: quiet"
    commit_tree(repo, "plain", {"index.html": "v2\n"})
    own_cache = "mkdir -p .next/cache && echo c > .next/cache/own"
    result = deployed(cli, root, repo, "--preset", "nextjs", "--build", own_cache)
    assert "not copying the build cache" in result.stderr and "is a symlink" in result.stderr
    second = current_id(root)
    assert not (root / "releases" / second / ".next/cache/secret.txt").exists()
    assert (root / "releases" / second / ".next/cache/own").read_text() == "c\n"
    commit_tree(
        repo,
        ".next links out",
        {"index.html": "v3\n"},
        {".next": str(outside / "dir"), ".env.production.local": str(outside / "secret.txt")},
    )
    before = snapshot(outside)
    assert "not copying the build cache" in deployed(cli, root, repo, *nextjs).stderr
    third = current_id(root)
    assert snapshot(outside) == before
    assert os.readlink(root / "releases" / third / ".next") == str(outside / "dir")


def test_reads_of_links_to_fifos_and_dev_zero_and_huge_files_neither_block_nor_eat_memory(
    root: Path, repo: Path, outside: Path
) -> None:
    """package.json -> /dev/zero, package-lock.json -> a FIFO, the static record -> /dev/zero,
    BUILD_ID a FIFO and a sparse terabyte record made by the build: with memory capped at
    1 GiB, every deploy finishes (exit 0) with warnings naming the refused files."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    env.pop("RELEASES_ROOT", None)
    command = releases_argv("deploy", "--root", str(root), "--repo")
    (root / "releases.toml").write_text("[build]\nshare_static = true\n")
    commit_tree(
        repo,
        "links to devices",
        {"index.html": "v1\n"},
        {
            "package.json": "/dev/zero",
            "package-lock.json": str(outside / "fifo"),
            ".next/releases-static.json": "/dev/zero",
            ".next/BUILD_ID": str(outside / "fifo"),
        },
    )
    build = "mkdir -p .next/static/chunks && echo c > .next/static/chunks/$RELEASE_ID.js"
    first = run_limited([*command, str(repo), "--build", build], env)
    assert first.returncode == 0, first.stderr
    assert "package.json is a symlink" in first.stderr
    fifo_build = (
        "rm -f .next/BUILD_ID .next/releases-static.json && mkfifo .next/BUILD_ID && "
        "truncate -s 1T .next/releases-static.json && " + build
    )
    second = run_limited([*command, str(repo), "--force", "--build", fifo_build], env)
    assert second.returncode == 0, second.stderr
    assert "BUILD_ID is a symlink" in second.stderr  # the first release's, as a donor
    assert "releases-static.json is larger than" in second.stderr  # its own, before sharing
    third = run_limited([*command, str(repo), "--force", "--build", build], env)
    assert third.returncode == 0, third.stderr
    assert "BUILD_ID is not a regular file" in third.stderr  # the second's FIFO


def test_node_modules_reuse_never_links_from_or_into_a_planted_link(
    cli: Cli, root: Path, repo: Path, outside: Path, tmp_path: Path
) -> None:
    """A commit whose `node_modules` links out (same lockfile in every commit): the next
    release does not reuse it (no hardlink to any outside file is made; the install runs),
    and a new release with its own `node_modules` link is not linked into either."""
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    (fakebin / "npm").write_text('#!/bin/sh\necho "npm $*" >> npm-ran\n')
    (fakebin / "npm").chmod(0o755)
    env = {"PATH": f"{fakebin}:{os.environ['PATH']}"}
    lock = {"package-lock.json": '{"lockfileVersion": 3}\n', "package.json": '{"name": "a"}\n'}

    def deploy_npm() -> str:
        result = cli(
            "deploy", "--root", str(root), "--repo", str(repo), "--force", "--preset", "nextjs",
            "--build", "npm ci", env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "install skipped" not in result.stdout + result.stderr
        return current_id(root)

    commit_tree(repo, "deps link out", lock, {"node_modules": str(outside / "dir")})
    deploy_npm()
    before = snapshot(outside)
    links = os.stat(outside / "dir" / "x").st_nlink
    commit_tree(repo, "plain", lock)
    second = deploy_npm()
    assert (root / "releases" / second / "npm-ran").read_text() == "npm ci\n"
    commit_tree(repo, "deps link out again", lock, {"node_modules": str(outside)})
    deploy_npm()
    assert snapshot(outside) == before
    assert os.stat(outside / "dir" / "x").st_nlink == links


def test_shared_link_under_a_symlinked_parent_is_refused_with_exit_7(
    cli: Cli, root: Path, repo: Path, outside: Path
) -> None:
    """`[shared] dirs = ["public/uploads"]` and a commit with `public -> /elsewhere`: the
    deploy exits 7 with one line naming `public`, nothing is created or deleted outside, and
    `current` stays on the previous release."""
    _root(cli, root, '[shared]\ndirs = ["public/uploads"]\n')
    commit_tree(repo, "plain", {"index.html": "v1\n", "public/uploads/.keep": ""})
    good = deploy(cli, root, repo)
    commit_tree(repo, "hostile", {"index.html": "v2\n"}, {"public": str(outside / "dir")})
    (outside / "dir" / "uploads").mkdir()
    (outside / "dir" / "uploads" / "precious").write_text("keep\n")
    before = snapshot(outside)
    result = cli("deploy", "--root", str(root), "--repo", str(repo))
    assert result.returncode == 7, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("releases: error:")]
    assert len(errors) == 1 and "public is a symlink" in errors[0]
    assert current_id(root) == good
    assert snapshot(outside) == before


def test_proof_path_never_looks_through_a_siblings_planted_next(
    tmp_path: Path, outside: Path
) -> None:
    """The health check's proof path asks whether another release has a build's manifest; a
    sibling release whose `.next` links to a directory holding that file does not count, and a
    BUILD_ID that is a FIFO or links to /dev/zero gives no proof path instead of blocking."""
    releases = tmp_path / "releases"
    new = releases / "20261126T000100Z"
    (new / ".next/static/B1").mkdir(parents=True)
    (new / ".next/BUILD_ID").write_text("B1\n")
    (new / ".next/static/B1/_buildManifest.js").write_text("m")
    (outside / "dir" / "static/B1").mkdir(parents=True)
    (outside / "dir" / "static/B1/_buildManifest.js").write_text("m")
    (releases / "20261126T000000Z").mkdir()
    (releases / "20261126T000000Z" / ".next").symlink_to(outside / "dir")
    assert static_share.proof_url_path(new) == "/_next/static/B1/_buildManifest.js"
    (new / ".next/BUILD_ID").unlink()
    os.mkfifo(new / ".next/BUILD_ID")
    with no_hang():
        assert static_share.proof_url_path(new) is None
    (new / ".next/BUILD_ID").unlink()
    (new / ".next/BUILD_ID").symlink_to(outside / "fifo")
    with no_hang():
        assert static_share.proof_url_path(new) is None


@pytest.mark.parametrize("build_id", ["..", "a/b", ".hidden", "x y", "é"])
def test_build_ids_that_are_not_one_plain_word_give_no_proof_path(
    tmp_path: Path, build_id: str
) -> None:
    """A BUILD_ID that could climb out of `/_next/static/` or is not one URL segment is not
    used as proof."""
    (tmp_path / ".next").mkdir()
    (tmp_path / ".next/BUILD_ID").write_text(build_id)
    assert static_share.proof_url_path(tmp_path) is None


def test_forget_skips_directories_and_links_named_by_a_record(
    tmp_path: Path, outside: Path
) -> None:
    """A record naming a directory of `.next/static`, or a file below a symlinked directory
    in it, as coming from the pruned build: neither is removed; a plain file it names is."""
    root = DeployRoot(tmp_path)
    release = tmp_path / "releases" / "20261126T000100Z"
    static = release / ".next/static"
    (static / "chunks").mkdir(parents=True)
    (static / "chunks" / "old.js").write_text("old")
    (static / "media").symlink_to(outside / "dir")
    pruned = "20261126T000000Z"
    linked = {"chunks": pruned, "media/x": pruned, "chunks/old.js": pruned}
    (release / ".next/releases-static.json").write_text(json.dumps({"linked": linked}))
    before = snapshot(outside)
    assert static_share.forget(root, pruned) == 1
    assert (static / "chunks").is_dir() and not (static / "chunks" / "old.js").exists()
    assert snapshot(outside) == before
    assert static_share.read_manifest(release) == {}
