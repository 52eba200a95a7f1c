"""Files we write respect the operator: state is never group- or world-writable whatever the
umask; an artifact follows the umask like any new file (it may hold .env.production). The
commands run for real, under the umask the test sets (inherited as from a login shell)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from gitrepos import commit, init_repo
from helpers import Cli, deploy_ok


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def writable_by_others(top: Path) -> list[str]:
    """Every file or directory under `top` (itself included) with a group or other write bit."""
    found = []
    for path in [top, *top.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o022:
            found.append(f"{path.relative_to(top.parent)} {stat.filemode(mode)}")
    return found


def test_state_is_never_group_or_world_writable_under_umask_000(
    cli: Cli, tmp_path: Path, app: Path
) -> None:
    """With umask 000: init, deploys from a directory and from git (the mirror), a stage, a
    freeze, a rollback, a prune and the blue-green include leave no state file or directory
    (.releases/, releases/, each release's directory, shared/, the root) that others may
    write."""
    repo = init_repo(tmp_path / "repo")
    commit(repo, {"index.html": "v1\n"}, "first")
    root = tmp_path / "shop"
    with umask(0o000):
        assert cli("init", "--root", str(root)).returncode == 0
        deploy_ok(cli, root, app)
        result = cli("deploy", "--root", str(root), "--repo", str(repo), "--keep", "2")
        assert result.returncode == 0, result.stderr
        assert cli("stage", "--root", str(root), "--source", str(app)).returncode == 0
        assert cli("freeze", "--root", str(root), "-m", "hold").returncode == 0
        assert cli("unfreeze", "--root", str(root)).returncode == 0
        assert cli("rollback", "--root", str(root)).returncode == 0
        assert cli("prune", "--root", str(root), "--keep", "1").returncode == 0
        (root / "releases.toml").write_text('[serve]\nmode = "blue-green"\n')
        result = cli("nginx", "--root", str(root))
        assert result.returncode == 0, result.stderr
    assert (root / ".releases" / "repo.git" / "objects").is_dir()
    assert (root / ".releases" / "serve" / "nginx.conf").is_file()
    state = writable_by_others(root / ".releases")
    layout = [root, root / "releases", root / "shared", *(root / "releases").iterdir()]
    assert state == [], state
    assert [p for p in layout if p.lstat().st_mode & 0o022] == []


def test_an_artifact_follows_the_umask(cli: Cli, tmp_path: Path, app: Path) -> None:
    """`pack -o FILE` under umask 077 writes a 0600 file (an artifact may carry
    .env.production); under 022, 0644."""
    (app / ".env.production").write_text("SECRET=1\n")
    for mask, mode in ((0o077, 0o600), (0o022, 0o644)):
        out = tmp_path / f"{mask:o}.artifact"
        with umask(mask):
            result = cli("pack", "--source", str(app), "--build", "true", "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(out.stat().st_mode) == mode
