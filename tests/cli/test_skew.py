"""Version skew: earlier builds' `.next/static` files are hardlinked into each new release and
taken back out when their build is pruned. Real deploys through the CLI, with a build command
that writes one content-named chunk per release (what `next build` does for each build)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok

from releases_cli import config
from releases_cli.core.errors import InvalidInput
from releases_cli.nextjs import static_share as skew

# Each build writes a chunk named after its release (a stand-in for a content hash) and a file
# every build has under the same name with the same bytes (e.g. a font).
BUILD = (
    "mkdir -p .next/static/chunks .next/static/media && "
    'echo "chunk of $RELEASE_ID" > .next/static/chunks/$RELEASE_ID.js && '
    "echo font > .next/static/media/font.woff2"
)


def _deploy(cli: Cli, root: Path, app: Path, *extra: str) -> str:
    return deploy_ok(cli, root, app, "--preset", "none", "--build", BUILD, *extra)


def _chunks(root: Path, release_id: str) -> set[str]:
    return {p.stem for p in (root / "releases" / release_id / ".next/static/chunks").iterdir()}


@pytest.fixture
def sharing_root(cli: Cli, root: Path) -> Path:
    assert cli("init", "--root", str(root)).returncode == 0
    (root / "releases.toml").write_text("keep = 3\n[build]\nshare_static = true\n")
    return root


def test_new_release_serves_every_kept_builds_chunks_as_hardlinks(
    cli: Cli, sharing_root: Path, app: Path
) -> None:
    """Each deploy links the kept releases' chunks its own build lacks (same inode, no copy),
    records their origin build, and leaves files its own build wrote alone."""
    first = _deploy(cli, sharing_root, app)
    second = _deploy(cli, sharing_root, app)
    third = _deploy(cli, sharing_root, app)
    rel = sharing_root / "releases"
    assert _chunks(sharing_root, third) == {first, second, third}
    ino = os.stat(rel / first / f".next/static/chunks/{first}.js").st_ino
    assert os.stat(rel / third / f".next/static/chunks/{first}.js").st_ino == ino
    manifest = json.loads((rel / third / ".next/releases-static.json").read_text())["linked"]
    # the first build's chunk reached the third through the second: its origin stays the first
    assert manifest == {f"chunks/{first}.js": first, f"chunks/{second}.js": second}
    font = rel / third / ".next/static/media/font.woff2"
    assert os.stat(font).st_nlink == 1  # the third build's own copy was not replaced


def test_pruning_a_release_removes_its_chunks_from_the_kept_ones(
    cli: Cli, sharing_root: Path, app: Path
) -> None:
    """When a release is pruned, the files that came only from its build stop being served by
    the remaining releases; other builds' shared files stay."""
    ids = [_deploy(cli, sharing_root, app) for _ in range(4)]  # keep = 3: the first is pruned
    assert not (sharing_root / "releases" / ids[0]).exists()
    for kept in ids[1:]:
        assert ids[0] not in _chunks(sharing_root, kept)
    assert _chunks(sharing_root, ids[3]) == set(ids[1:])
    manifest = skew.read_manifest(sharing_root / "releases" / ids[3])
    assert set(manifest.values()) == {ids[1], ids[2]}


def test_off_by_default_without_nextjs(cli: Cli, root: Path, app: Path) -> None:
    """`auto` follows the Next.js preset: a non-Next.js app's releases share nothing."""
    assert cli("init", "--root", str(root)).returncode == 0
    first = _deploy(cli, root, app)
    second = _deploy(cli, root, app)
    assert _chunks(root, second) == {second}
    assert first != second
    assert not (root / "releases" / second / ".next/releases-static.json").exists()


def test_false_turns_sharing_off(cli: Cli, root: Path, app: Path) -> None:
    """`share_static = false` (or `--preset nextjs` apps with it off) links nothing."""
    assert cli("init", "--root", str(root)).returncode == 0
    (root / "releases.toml").write_text("[build]\nshare_static = false\n")
    _deploy(cli, root, app)
    second = _deploy(cli, root, app)
    assert _chunks(root, second) == {second}


def test_setting_accepts_auto_true_false_and_refuses_other_words() -> None:
    """TOML booleans and "auto" are accepted; anything else is a one-line config error."""
    assert config.parse({"build": {"share_static": True}}).build.share_static == "true"
    assert config.parse({"build": {"share_static": False}}).build.share_static == "false"
    assert config.parse({}).build.share_static == "auto"
    with pytest.raises(InvalidInput, match=r"build\.share_static must be one of"):
        config.parse({"build": {"share_static": "yes"}})
    assert skew.enabled("auto", nextjs=True) and not skew.enabled("auto", nextjs=False)


def test_forget_ignores_manifest_entries_outside_static(tmp_path: Path) -> None:
    """A hand-edited manifest naming `../` paths never makes prune delete outside .next/static."""
    from releases_cli.core.layout import DeployRoot

    root = DeployRoot(tmp_path)
    release = tmp_path / "releases" / "20261126T000000Z"
    (release / ".next/static").mkdir(parents=True)
    victim = release / ".next" / "keep-me"
    victim.write_text("x")
    (release / ".next/releases-static.json").write_text(
        json.dumps({"linked": {"../keep-me": "20261125T000000Z"}})
    )
    assert skew.forget(root, "20261125T000000Z") == 0
    assert victim.exists()


def _release(root: Path, release_id: str, build_id: str, files: list[str]) -> Path:
    release = root / "releases" / release_id
    (release / ".next").mkdir(parents=True)
    (release / ".next/BUILD_ID").write_text(build_id)
    for rel in [f"{build_id}/_buildManifest.js", *files]:
        (release / ".next/static" / rel).parent.mkdir(parents=True, exist_ok=True)
        (release / ".next/static" / rel).write_text(rel)
    return release


def test_build_id_files_are_never_shared(tmp_path: Path) -> None:
    """A build's `<BUILD_ID>/_buildManifest.js` stays its own, so the health check can still
    ask for it to tell the new build from an old worker (also after a rollback)."""
    from releases_cli.core.layout import DeployRoot
    from releases_cli.core.meta import MetaStatus, ReleaseMeta, write_meta

    root = DeployRoot(tmp_path)
    root.meta_dir.mkdir(parents=True)
    _release(tmp_path, "20261126T000000Z", "B1", ["chunks/a.js"])
    write_meta(root, ReleaseMeta("20261126T000000Z", MetaStatus.COMPLETE))
    new = _release(tmp_path, "20261126T000100Z", "B2", ["chunks/b.js"])
    assert skew.share_static(root, "20261126T000100Z") == 1
    assert (new / ".next/static/chunks/a.js").exists()
    assert not (new / ".next/static/B1").exists()


def test_proof_path_with_one_build_id_for_every_build(tmp_path: Path) -> None:
    """With a deployment id every build has the same build id; the health check then asks for a
    chunk only the new build has (not one it shares with, or got from, another release)."""
    _release(tmp_path, "20261126T000000Z", "build-X", ["chunks/a.js", "chunks/same.js"])
    new = _release(tmp_path, "20261126T000100Z", "build-X", ["chunks/same.js", "chunks/z.js"])
    (new / ".next/static/chunks/a.js").hardlink_to(
        tmp_path / "releases/20261126T000000Z/.next/static/chunks/a.js"
    )
    assert skew.proof_path(new, "build-X") == "chunks/z.js"
    alone = _release(tmp_path / "other", "20261126T000000Z", "B9", ["chunks/q.js"])
    assert skew.proof_path(alone, "B9") == "B9/_buildManifest.js"


def test_killed_mid_share_leaves_current_and_earlier_releases_intact(
    cli: Cli, sharing_root: Path, app: Path
) -> None:
    """SIGKILL while linking earlier builds' files: the new release is incomplete (never live),
    the earlier releases are unchanged, and the next deploy succeeds and removes the debris."""
    from helpers import tree_state

    ids = [_deploy(cli, sharing_root, app) for _ in range(2)]
    before = {i: tree_state(sharing_root / "releases" / i) for i in ids}
    killed = cli(
        "deploy", "--root", str(sharing_root), "--source", str(app), "--preset", "none",
        "--build", BUILD, env={"RELEASES_FAULT": "mid_share"},
    )  # fmt: skip
    assert killed.returncode == -9
    assert current_id(sharing_root) == ids[1]
    assert {i: tree_state(sharing_root / "releases" / i) for i in ids} == before
    final = _deploy(cli, sharing_root, app)
    assert sorted(p.name for p in (sharing_root / "releases").iterdir()) == [*ids, final]
    assert _chunks(sharing_root, final) == {*ids, final}


def test_killed_mid_forget_next_prune_finishes(cli: Cli, sharing_root: Path, app: Path) -> None:
    """SIGKILL after a pruned build's files were unlinked from a kept release but before its
    record was rewritten: the next prune removes the release and leaves no record naming it."""
    ids = [_deploy(cli, sharing_root, app) for _ in range(3)]
    killed = cli(
        "prune", "--root", str(sharing_root), "--keep", "1", env={"RELEASES_FAULT": "mid_forget"}
    )
    assert killed.returncode == -9
    again = cli("prune", "--root", str(sharing_root), "--keep", "1")
    assert again.returncode == 0, again.stderr
    # keep 1 + the rollback target: the first release is gone, and so are its files
    assert not (sharing_root / "releases" / ids[0]).exists()
    for kept in ids[1:]:
        assert ids[0] not in _chunks(sharing_root, kept)
        assert ids[0] not in skew.read_manifest(sharing_root / "releases" / kept).values()


def _deploy_next(cli: Cli, root: Path, app: Path) -> str:
    """A deploy the Next.js preset handles (forced), whose build records NEXT_DEPLOYMENT_ID."""
    result = cli(
        "deploy", "--root", str(root), "--source", str(app), "--preset", "nextjs",
        "--build", 'printf "%s" "${NEXT_DEPLOYMENT_ID-unset}" > seen-deployment-id',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return current_id(root)


def test_nextjs_build_gets_the_release_id_as_deployment_id(cli: Cli, root: Path, app: Path) -> None:
    """The Next.js preset exports NEXT_DEPLOYMENT_ID = the release id to the build and records
    it in the release's .env.production.local, which `next start` loads at run time."""
    assert cli("init", "--root", str(root)).returncode == 0
    release_id = _deploy_next(cli, root, app)
    release = root / "releases" / release_id
    assert (release / "seen-deployment-id").read_text() == release_id
    assert f"NEXT_DEPLOYMENT_ID={release_id}\n" in (release / ".env.production.local").read_text()


def test_app_with_its_own_env_production_local_keeps_it(cli: Cli, root: Path, app: Path) -> None:
    """An app that ships .env.production.local keeps it unchanged, and its build gets no
    deployment id from releases (build and run time could otherwise disagree)."""
    assert cli("init", "--root", str(root)).returncode == 0
    (app / ".env.production.local").write_text("MINE=1\n")
    release = root / "releases" / _deploy_next(cli, root, app)
    assert (release / ".env.production.local").read_text() == "MINE=1\n"
    assert (release / "seen-deployment-id").read_text() == "unset"


def test_no_deployment_id_without_nextjs(cli: Cli, root: Path, app: Path) -> None:
    """A non-Next.js deploy gets no NEXT_DEPLOYMENT_ID and no .env.production.local."""
    assert cli("init", "--root", str(root)).returncode == 0
    release = root / "releases" / _deploy(cli, root, app)
    assert not (release / ".env.production.local").exists()
