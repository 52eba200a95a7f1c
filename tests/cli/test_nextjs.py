"""The Next.js preset: detection from package.json and lockfiles, and `.next/cache` reuse."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import Cli, argv, current_id, deploy_ok, meta_of, tree_state

from releases_cli.nextjs import preset as nextjs


def _app(path: Path, package: dict[str, object] | None, *lockfiles: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if package is not None:
        (path / "package.json").write_text(json.dumps(package))
    for name in lockfiles:
        (path / name).write_text("{}\n")
    return path


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        ({"dependencies": {"next": "16.4.6", "react": "19"}}, True),
        ({"devDependencies": {"next": "^16"}}, True),
        ({"dependencies": {"react": "19"}}, False),
        ({"peerDependencies": {"next": "16"}}, False),
        ({"dependencies": ["next"]}, False),
        ({}, False),
    ],
)
def test_uses_next(package: dict[str, object], expected: bool) -> None:
    """`next` counts in dependencies and devDependencies only."""
    assert nextjs.uses_next(package) is expected


@pytest.mark.parametrize(
    ("lockfiles", "commands"),
    [
        (("package-lock.json",), ("npm ci", "npx next build")),
        (("pnpm-lock.yaml",), ("pnpm install --frozen-lockfile", "pnpm exec next build")),
        (("yarn.lock",), ("yarn install --frozen-lockfile", "yarn next build")),
        ((), ("npm install", "npx next build")),
        (("yarn.lock", "package-lock.json"), ("npm ci", "npx next build")),
    ],
)
def test_lockfile_picks_package_manager(
    tmp_path: Path, lockfiles: tuple[str, ...], commands: tuple[str, ...]
) -> None:
    """The install command is the one the lockfile's package manager needs."""
    app = _app(tmp_path / "app", {"dependencies": {"next": "16"}}, *lockfiles)
    assert nextjs.detect(app, "auto").commands == commands


def test_preset_setting(tmp_path: Path) -> None:
    """auto follows package.json, nextjs forces the preset, none disables it (other words are
    refused by the config, see test_preset_word_is_refused_before_anything_is_made)."""
    plain = _app(tmp_path / "plain", {"dependencies": {"express": "4"}}, "package-lock.json")
    nxt = _app(tmp_path / "next", {"dependencies": {"next": "16"}}, "pnpm-lock.yaml")
    bad_json = tmp_path / "bad"
    bad_json.mkdir()
    (bad_json / "package.json").write_text("{not json")
    assert not nextjs.detect(plain, "auto").nextjs
    assert not nextjs.detect(bad_json, "auto").nextjs
    assert not nextjs.detect(tmp_path / "plain", "none").nextjs
    assert not nextjs.detect(nxt, "none").nextjs
    assert nextjs.detect(nxt, "auto").package_manager == "pnpm"
    assert nextjs.detect(plain, "nextjs").commands == ("npm ci", "npx next build")


def test_cache_copy_is_a_copy_not_hardlinks(tmp_path: Path) -> None:
    """Every cache file of the new release is a distinct inode; changing or deleting it leaves
    the previous release's cache byte-for-byte intact (it is the rollback target)."""
    old = tmp_path / "old"
    (old / ".next" / "cache" / "webpack" / "server").mkdir(parents=True)
    blob = old / ".next" / "cache" / "webpack" / "server" / "0.pack"
    blob.write_bytes(b"cache" * 1000)
    (old / ".next" / "cache" / "link").symlink_to("webpack/server/0.pack")
    new = tmp_path / "new"
    new.mkdir()
    copied = nextjs.reuse_build_cache(old, new)
    assert copied > 0
    twin = new / ".next" / "cache" / "webpack" / "server" / "0.pack"
    assert twin.read_bytes() == blob.read_bytes()
    assert twin.stat().st_ino != blob.stat().st_ino
    assert twin.stat().st_nlink == 1 and blob.stat().st_nlink == 1
    assert os.readlink(new / ".next" / "cache" / "link") == "webpack/server/0.pack"
    with open(twin, "r+b") as handle:  # Next rewrites cache files in place
        handle.write(b"XXXXX")
    twin.with_name("1.pack").write_bytes(b"new")
    assert blob.read_bytes() == b"cache" * 1000
    assert not blob.with_name("1.pack").exists()


def test_cache_copy_without_previous_cache(tmp_path: Path) -> None:
    """No previous cache (first deploy, or a plain app): nothing is made."""
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    assert nextjs.reuse_build_cache(tmp_path / "old", tmp_path / "new") == 0
    assert not (tmp_path / "new" / ".next").exists()


MAKE_CACHE = 'mkdir -p .next/cache && echo "$RELEASE_ID" > .next/cache/built-by'


def _next_app(app: Path) -> None:
    (app / "package.json").write_text(json.dumps({"dependencies": {"next": "16.4.6"}}))


def test_deploy_copies_previous_complete_release_cache(cli: Cli, root: Path, app: Path) -> None:
    """A Next.js app's second deploy starts with the live release's .next/cache (a failed
    release's cache is never used); the live release keeps its own cache untouched."""
    _next_app(app)
    first = deploy_ok(cli, root, app, "--build", MAKE_CACHE)
    failed = cli(
        "deploy", "--root", str(root), "--source", str(app), "--build", f"{MAKE_CACHE} && false"
    )
    assert failed.returncode == 6
    build = "cp .next/cache/built-by seen && echo mine > .next/cache/built-by"
    result = cli(*argv("deploy", root=root, source=app, build=build))
    assert result.returncode == 0, result.stderr
    assert f"build cache: copied .next/cache from {first}" in result.stderr
    second = root / "releases" / current_id(root)
    assert (second / "seen").read_text() == f"{first}\n"
    assert (root / "releases" / first / ".next" / "cache" / "built-by").read_text() == f"{first}\n"


def test_preset_none_and_plain_apps_get_no_cache(cli: Cli, root: Path, app: Path) -> None:
    """preset none turns reuse off for a Next.js app; an app without next never gets it."""
    deploy_ok(cli, root, app, "--build", MAKE_CACHE)
    plain = deploy_ok(cli, root, app, "--build", "true")
    assert not (root / "releases" / plain / ".next").exists()
    _next_app(app)
    off = deploy_ok(cli, root, app, "--build", "true", "--preset", "none")
    assert not (root / "releases" / off / ".next").exists()


def test_explicit_empty_build_list_overrides_the_preset(cli: Cli, root: Path, app: Path) -> None:
    """`build.commands = []` means "no build", even for a Next.js app (no npm is run)."""
    _next_app(app)
    (root / "releases.toml").write_text("[build]\ncommands = []\n")
    release_id = deploy_ok(cli, root, app)
    meta = meta_of(root, release_id)
    assert meta["build"] == []


def test_preset_word_is_refused_before_anything_is_made(cli: Cli, root: Path, app: Path) -> None:
    """A preset that is not auto, nextjs or none is refused by the config, from the file or
    from --preset: exit 3, one line naming the key, and the root is left as it was."""
    _next_app(app)
    before = tree_state(root)
    flag = cli("deploy", "--root", str(root), "--source", str(app), "--preset", "next")
    assert flag.returncode == 3
    assert flag.stderr == (
        "releases: error: --preset (build.preset) must be one of auto, nextjs, none, got 'next'\n"
    )
    assert tree_state(root) == before
    (root / "releases.toml").write_text('[build]\npreset = "next"\n')
    before = tree_state(root)
    from_file = cli("deploy", "--root", str(root), "--source", str(app))
    assert from_file.returncode == 3
    assert from_file.stderr == (
        f"releases: error: {root / 'releases.toml'}:2: build.preset must be one of auto, "
        "nextjs, none, got 'next'\n"
    )
    assert tree_state(root) == before
