"""Deploy from git through the cached bare mirror: real repositories made in tmp_path."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from gitrepos import GIT_ENV, commit, count_objects, git, init_repo
from helpers import Cli, current_id, history_of, meta_of, tree_state

MIRROR = Path(".releases") / "repo.git"


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """An app repository on branch main: an executable, a symlink, and export-ignored paths."""
    repo = init_repo(tmp_path / "upstream")
    commit(
        repo,
        {
            "index.html": "v1\n",
            "pages/about.html": "about\n",
            "run.sh": "#!/bin/sh\necho run\n",
            ".gitattributes": "secret.txt export-ignore\ntests/ export-ignore\n",
            "secret.txt": "not for the server\n",
            "tests/test_app.txt": "tests stay in the repo\n",
        },
        "first version",
    )
    (repo / "run.sh").chmod(0o755)
    (repo / "link-to-index").symlink_to("index.html")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "executable and symlink")
    return repo


def deploy(
    cli: Cli, root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return cli("deploy", "--root", str(root), *args, env=env)


def deploy_ok(cli: Cli, root: Path, *args: str) -> Path:
    """Deploy and return the path of the new current release (fails the test otherwise)."""
    result = deploy(cli, root, *args)
    assert result.returncode == 0, result.stderr
    return root / "releases" / current_id(root)


def state_outside_mirror(root: Path) -> dict[str, str]:
    """tree_state of the deploy root without the mirror (a cache every fetch updates)."""
    return {p: s for p, s in tree_state(root).items() if not p.startswith(str(MIRROR))}


def test_deploy_default_branch_exports_tree_revision_and_meta(
    cli: Cli, root: Path, upstream: Path
) -> None:
    """Without --ref the remote's default branch is deployed: its tree with modes and symlinks,
    no .git, export-ignore honoured, REVISION = full sha, meta and `list` show the commit."""
    sha = git(upstream, "rev-parse", "HEAD")
    release = deploy_ok(cli, root, "--repo", str(upstream))
    assert (release / "index.html").read_text() == "v1\n"
    assert (release / "pages" / "about.html").read_text() == "about\n"
    assert os.access(release / "run.sh", os.X_OK)
    assert os.readlink(release / "link-to-index") == "index.html"
    assert not (release / ".git").exists()
    assert not (release / "secret.txt").exists() and not (release / "tests").exists()
    assert (release / "REVISION").read_text() == f"{sha}\n"
    source = meta_of(root, release.name)["source"]
    assert source == {
        "type": "git",
        "repo": str(upstream),
        "ref": "main",
        "revision": sha,
        "subject": "executable and symlink",
        "author": "Ada Tester <ada@example.invalid>",
        "committed_at": source["committed_at"],
    }
    assert str(source["committed_at"]).endswith("Z")
    assert (root / MIRROR / "HEAD").is_file(), "the mirror is cached in .releases/repo.git"
    listing = cli("list", "--root", str(root))
    assert f'{sha[:7]} "executable and symlink"' in listing.stdout


def test_deploy_by_branch_tag_and_sha(cli: Cli, root: Path, upstream: Path, tmp_path: Path) -> None:
    """--ref takes a branch, a tag, a full or an abbreviated sha; file:// URLs and relative
    paths both work; each release holds exactly the tree of the commit asked for."""
    first = git(upstream, "rev-parse", "HEAD")
    git(upstream, "tag", "-a", "v1.0", "-m", "release 1.0")  # annotated: peeled to its commit
    git(upstream, "checkout", "-q", "-b", "feature")
    feature = commit(upstream, {"index.html": "feature\n"}, "feature work")
    git(upstream, "checkout", "-q", "main")
    second = commit(upstream, {"index.html": "v2\n"}, "second version")
    url = upstream.as_uri()

    cases = [("feature", feature, "feature\n"), ("v1.0", first, "v1\n"), (second, second, "v2\n")]
    for ref, sha, content in cases:
        release = deploy_ok(cli, root, "--repo", url, "--ref", ref)
        assert (release / "index.html").read_text() == content, ref
        assert (release / "REVISION").read_text() == f"{sha}\n"
        assert meta_of(root, release.name)["source"]["ref"] == ref

    result = cli(
        "deploy", "--root", str(root), "--repo", "upstream", "--ref", first[:10], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    release = root / "releases" / current_id(root)
    assert (release / "index.html").read_text() == "v1\n"
    assert meta_of(root, release.name)["source"]["repo"] == str(upstream)


def test_unknown_ref_fails_before_any_release_is_created(
    cli: Cli, root: Path, upstream: Path
) -> None:
    """A ref that does not exist: exit 4, one line naming it, no release directory or meta,
    no deploy in the history, and the live release untouched."""
    live = deploy_ok(cli, root, "--repo", str(upstream))
    before = state_outside_mirror(root)
    result = deploy(cli, root, "--repo", str(upstream), "--ref", "no-such-branch")
    assert result.returncode == 4
    assert "'no-such-branch' is not a branch, tag or commit" in result.stderr
    assert [line for line in result.stderr.splitlines() if "error" in line] == [
        result.stderr.strip().splitlines()[-1]
    ]
    assert state_outside_mirror(root) == before
    assert current_id(root) == live.name
    assert [e["event"] for e in history_of(root)].count("deploy_started") == 1


def test_branch_deleted_upstream_is_pruned_from_the_mirror(
    cli: Cli, root: Path, upstream: Path
) -> None:
    """Each deploy fetches with prune: a branch deleted upstream can no longer be deployed."""
    git(upstream, "branch", "old")
    deploy_ok(cli, root, "--repo", str(upstream), "--ref", "old")
    assert git(root / MIRROR, "branch", "--list", "old")
    git(upstream, "branch", "-D", "old")
    commit(upstream, {"index.html": "v2\n"}, "second version")
    deploy_ok(cli, root, "--repo", str(upstream), "--ref", "main")
    assert not git(root / MIRROR, "branch", "--list", "old")
    result = deploy(cli, root, "--repo", str(upstream), "--ref", "old")
    assert result.returncode == 4, result.stderr


def test_already_live_commit_does_nothing_unless_forced(
    cli: Cli, root: Path, upstream: Path
) -> None:
    """Deploying the commit that is live says so, exits 0 and creates nothing; --force deploys
    it again as a new release."""
    live = deploy_ok(cli, root, "--repo", str(upstream))
    state = state_outside_mirror(root)
    again = deploy(cli, root, "--repo", str(upstream), "--ref", "main")
    assert again.returncode == 0, again.stderr
    sha = git(upstream, "rev-parse", "HEAD")
    assert f"already live: release {live.name} is {sha[:12]}" in again.stdout
    assert "--force" in again.stdout
    assert state_outside_mirror(root) == state
    forced = deploy_ok(cli, root, "--repo", str(upstream), "--force")
    assert forced != live
    assert (forced / "REVISION").read_text() == f"{sha}\n"
    assert sorted(p.name for p in (root / "releases").iterdir()) == sorted([live.name, forced.name])


def test_second_deploy_fetches_only_the_new_objects(cli: Cli, root: Path, tmp_path: Path) -> None:
    """After a one-file change the mirror receives only the new commit's few objects: its
    pack (the history) is unchanged and the new objects arrive loose."""
    repo = init_repo(tmp_path / "big")
    files = {f"src/module{i:03}/file.txt": f"content {i}\n" * 20 for i in range(200)}
    commit(repo, files, "200 files")
    for step in range(5):
        commit(repo, {f"src/module{step:03}/file.txt": f"edit {step}\n"}, f"edit {step}")
    deploy_ok(cli, root, "--repo", repo.as_uri())
    first = count_objects(root / MIRROR)
    assert first["in-pack"] > 400 and first["count"] == 0, first

    commit(repo, {"src/module150/file.txt": "one change\n"}, "one-file change")
    release = deploy_ok(cli, root, "--repo", repo.as_uri())
    assert (release / "src" / "module150" / "file.txt").read_text() == "one change\n"
    second = count_objects(root / MIRROR)
    assert second["in-pack"] == first["in-pack"] and second["packs"] == first["packs"], second
    # blob + src/module150 tree + src tree + root tree + commit
    assert second["count"] == 5, second


def test_submodules_exported_when_configured(cli: Cli, tmp_path: Path) -> None:
    """With `[source] submodules = true` each submodule (relative URL, nested too) is exported
    at its recorded commit and listed in the meta; without it the directory stays empty."""
    inner = init_repo(tmp_path / "inner")
    commit(inner, {"inner.txt": "inner\n"}, "inner")
    lib = init_repo(tmp_path / "lib")
    commit(lib, {"lib.js": "export const v = 1\n"}, "lib v1")
    git(lib, "-c", "protocol.file.allow=always", "submodule", "add", "-q", "../inner", "deps/inner")
    lib_sha = commit(lib, {}, "add inner")
    commit(lib, {"lib.js": "export const v = 2 // not recorded in the app yet\n"}, "lib v2")
    app = init_repo(tmp_path / "app")
    commit(app, {"index.html": "app\n"}, "app")
    git(app, "-c", "protocol.file.allow=always", "submodule", "add", "-q", "../lib", "vendor/lib")
    git(app, "-C", "vendor/lib", "checkout", "-q", lib_sha)
    commit(app, {}, "pin lib")

    with_subs = tmp_path / "with"
    with_subs.mkdir()
    (with_subs / "releases.toml").write_text(
        f'[source]\nrepo = "{app.as_uri()}"\nsubmodules = true\n'
    )
    release = deploy_ok(cli, with_subs)
    assert (release / "vendor" / "lib" / "lib.js").read_text() == "export const v = 1\n"
    assert (release / "vendor" / "lib" / "deps" / "inner" / "inner.txt").read_text() == "inner\n"
    assert not (release / "vendor" / "lib" / ".git").exists()
    subs = meta_of(with_subs, release.name)["source"]["submodules"]
    assert [(s["path"], s["revision"]) for s in subs] == [
        ("vendor/lib", lib_sha),
        ("vendor/lib/deps/inner", git(inner, "rev-parse", "HEAD")),
    ]

    without = tmp_path / "without"
    without.mkdir()
    release = deploy_ok(cli, without, "--repo", str(app))
    assert (release / "vendor" / "lib").is_dir()
    assert list((release / "vendor" / "lib").iterdir()) == []


def test_stale_git_locks_and_a_damaged_mirror_are_recovered(
    cli: Cli, root: Path, upstream: Path
) -> None:
    """Lock files a killed git left in the mirror do not block the next deploy (we hold the
    deploy lock, so they are stale), and a mirror that is not a repository is rebuilt."""
    deploy_ok(cli, root, "--repo", str(upstream))
    (root / MIRROR / "refs" / "heads" / "main.lock").write_text("")
    (root / MIRROR / "packed-refs.lock").write_text("")
    commit(upstream, {"index.html": "v2\n"}, "second version")
    release = deploy_ok(cli, root, "--repo", str(upstream))
    assert (release / "index.html").read_text() == "v2\n"
    assert not list((root / MIRROR).rglob("*.lock"))

    (root / MIRROR / "HEAD").unlink()
    commit(upstream, {"index.html": "v3\n"}, "third version")
    release = deploy_ok(cli, root, "--repo", str(upstream))
    assert (release / "index.html").read_text() == "v3\n"


def test_ssh_url_goes_through_the_users_ssh_command(
    cli: Cli, root: Path, upstream: Path, tmp_path: Path
) -> None:
    """An scp-like URL runs the user's GIT_SSH_COMMAND (how private repositories work): the
    tool passes the environment through and never handles keys. The fake ssh runs the remote
    command locally, so no network is used."""
    calls = tmp_path / "ssh-calls"
    fake_ssh = tmp_path / "fake-ssh"
    fake_ssh.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        "for last; do :; done\n"
        f'cd {upstream.parent} && exec sh -c "$last"\n'
    )
    fake_ssh.chmod(0o755)
    env = {"GIT_SSH_COMMAND": str(fake_ssh), "GIT_SSH_VARIANT": "simple"}
    result = cli("deploy", "--root", str(root), "--repo", "deploy@127.0.0.1:upstream", env=env)
    assert result.returncode == 0, result.stderr
    assert (root / "current" / "index.html").read_text() == "v1\n"
    assert "deploy@127.0.0.1 git-upload-pack 'upstream'" in calls.read_text()


UNSAFE_URLS = [
    "ext::sh -c touch% {marker}",
    "fd::17",
    "evil::{marker}",
    "--upload-pack=touch {marker}",
    "-oProxyCommand=touch {marker}",
    "ssh://-oProxyCommand=touch%20{marker}/repo",
    "ssh://user@-oProxyCommand=touch%20{marker}/repo",
    "git@-oProxyCommand=calc:repo",
    "ftp://127.0.0.1/repo",
    "https://127.0.0.1/repo\n--upload-pack=touch {marker}",
]


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_unsafe_urls_are_refused_and_nothing_runs(
    cli: Cli, root: Path, tmp_path: Path, url: str
) -> None:
    """A transport that runs commands, an option-like URL or host, or another scheme: exit 3,
    one line, the command never ran (no marker) and the deploy root is unchanged."""
    marker = tmp_path / "marker"
    cli("init", "--root", str(root))
    before = tree_state(root)
    result = deploy(cli, root, "--repo", url.format(marker=marker))
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("releases: error: refusing repository URL")
    assert not marker.exists()
    assert tree_state(root) == before


@pytest.mark.parametrize(
    "ref", ["--upload-pack=touch {marker}", "-oProxyCommand=touch {marker}", "main~1", "a\nb"]
)
def test_unsafe_refs_are_refused_and_nothing_runs(
    cli: Cli, root: Path, upstream: Path, tmp_path: Path, ref: str
) -> None:
    """A ref that looks like an option (or is a revision expression): exit 3, nothing ran,
    no mirror or release created."""
    marker = tmp_path / "marker"
    cli("init", "--root", str(root))
    before = tree_state(root)
    result = deploy(cli, root, "--repo", str(upstream), "--ref", ref.format(marker=marker))
    assert result.returncode == 3, result.stderr
    assert "refusing ref" in result.stderr
    assert not marker.exists()
    assert tree_state(root) == before


def test_unsafe_url_in_config_is_refused(cli: Cli, root: Path, tmp_path: Path) -> None:
    """`[source] repo` in releases.toml gets the same checks as --repo."""
    marker = tmp_path / "marker"
    (root / "releases.toml").write_text(f"[source]\nrepo = 'ext::sh -c touch% {marker}'\n")
    result = deploy(cli, root)
    assert result.returncode == 3
    assert "ext:: transport" in result.stderr
    assert not marker.exists()
    assert sorted(p.name for p in root.iterdir()) == ["releases.toml"]


def test_git_itself_refuses_other_transports_as_a_second_layer(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: even if the URL check let `evil::x` through, the environment we give
    git (GIT_ALLOW_PROTOCOL) stops it running git-remote-evil, which plain git would run."""
    from releases_cli.core.errors import SourceFailed
    from releases_cli.sources.git.mirror import fetch, open_mirror

    marker = tmp_path / "marker"
    helper_dir = tmp_path / "bin"
    helper_dir.mkdir()
    helper = helper_dir / "git-remote-evil"
    helper.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper_dir}{os.pathsep}{os.environ['PATH']}")

    mirror = open_mirror(tmp_path / "mirror.git", "evil::x")
    with pytest.raises(SourceFailed, match="fetching evil::x failed"):
        fetch(mirror, "evil::x", remote_head=True)
    assert not marker.exists()

    env = {**GIT_ENV, "PATH": os.environ["PATH"]}
    subprocess.run(
        ["git", "-C", str(tmp_path / "mirror.git"), "fetch", "origin"],
        env=env,
        capture_output=True,
        check=False,
    )
    assert marker.exists(), "control: without our environment git runs the helper"


def test_source_and_repo_conflicts_are_clear_errors(
    cli: Cli, root: Path, upstream: Path, app: Path
) -> None:
    """--source with --repo, --ref without a repository, and a config naming both a path and
    a repository: each exit 3 with one line, nothing created."""
    both = deploy(cli, root, "--source", str(app), "--repo", str(upstream))
    assert both.returncode == 3 and "mutually exclusive" in both.stderr
    ref_alone = deploy(cli, root, "--source", str(app), "--ref", "main")
    assert ref_alone.returncode == 3 and "--ref" in ref_alone.stderr
    (root / "releases.toml").write_text(f'[source]\npath = "{app}"\nrepo = "{upstream}"\n')
    config_both = deploy(cli, root)
    assert config_both.returncode == 3 and "source.path and source.repo" in config_both.stderr
    assert sorted(p.name for p in root.iterdir()) == ["releases.toml"]
    flag_wins = deploy(cli, root, "--repo", str(upstream))
    assert flag_wins.returncode == 0, flag_wins.stderr
    assert (root / "current" / "REVISION").is_file()


def test_revision_file_never_follows_a_symlink_from_the_repository(
    cli: Cli, root: Path, upstream: Path, tmp_path: Path
) -> None:
    """A repository that commits REVISION as a symlink out of the release cannot make the
    deploy write outside it: the link is replaced by the real REVISION file."""
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched\n")
    (upstream / "REVISION").symlink_to(outside)
    git(upstream, "add", "-A")
    git(upstream, "commit", "-q", "-m", "hostile REVISION")
    release = deploy_ok(cli, root, "--repo", str(upstream))
    assert outside.read_text() == "untouched\n"
    assert stat.S_ISREG((release / "REVISION").lstat().st_mode)


def test_rollback_and_list_do_not_load_gitpython(cli: Cli, root: Path, upstream: Path) -> None:
    """gitpython is imported only for git deploys, so `list` and `rollback` start fast."""
    deploy_ok(cli, root, "--repo", str(upstream))
    commit(upstream, {"index.html": "v2\n"}, "second version")
    deploy_ok(cli, root, "--repo", str(upstream))
    for command in ("list", "rollback"):
        result = cli(command, "--root", str(root), env={"PYTHONPROFILEIMPORTTIME": "1"})
        assert result.returncode == 0, result.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
        assert "releases_cli.cli.app" in imported
        assert "git" not in imported and "releases_cli.sources.git.source" not in imported, command


def test_deploy_killed_mid_export_leaves_current_and_next_deploy_recovers(
    cli: Cli, root: Path, upstream: Path
) -> None:
    """SIGKILL half-way through extracting the archive: `current` still serves the old release,
    the half-written one is never complete, and the next deploy of the same commit succeeds."""
    live = deploy_ok(cli, root, "--repo", str(upstream))
    commit(upstream, {f"assets/a{i:02}.txt": f"{i}\n" for i in range(30)}, "many files")
    killed = deploy(cli, root, "--repo", str(upstream), env={"RELEASES_FAULT": "mid_export"})
    assert killed.returncode == -9
    assert current_id(root) == live.name
    assert (root / "current" / "index.html").read_text() == "v1\n"
    release = deploy_ok(cli, root, "--repo", str(upstream))
    assert release != live
    assert len(list((release / "assets").iterdir())) == 30
    statuses = {
        r["id"]: r["status"]
        for r in json.loads(cli("list", "--root", str(root), "--json").stdout)["releases"]
    }
    assert statuses == {live.name: "previous", release.name: "current"}, "killed one pruned"
    assert sorted(p.name for p in (root / "releases").iterdir()) == sorted(statuses)
