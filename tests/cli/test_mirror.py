"""A mirror belongs to one repository: what was fetched for one URL is never served for another."""

from __future__ import annotations

from pathlib import Path

from gitrepos import commit, git, init_repo
from helpers import Cli, current_id

MIRROR = Path(".releases") / "repo.git"


def test_a_commit_known_only_to_another_repository_is_unknown(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    """Repository B is a fork of A; A has one more commit. After a deploy from A (which puts
    that commit in the mirror), `--repo B --ref <that sha>` fails as an unknown ref (exit 4,
    nothing live changes), while B's own commits deploy; and going back to A works again."""
    a = init_repo(tmp_path / "a")
    commit(a, {"index.html": "shared history\n"}, "common")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", "--bare", str(a), str(b))
    only_in_a = commit(a, {"index.html": "only in A\n"}, "A's own commit")

    first = cli("deploy", "--root", str(root), "--repo", str(a))
    assert first.returncode == 0, first.stderr
    live = current_id(root)
    assert (root / "current" / "index.html").read_text() == "only in A\n"

    refused = cli("deploy", "--root", str(root), "--repo", str(b), "--ref", only_in_a)
    assert refused.returncode == 4, refused.stderr
    assert f"ref {only_in_a!r} is not a branch, tag or commit of" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert current_id(root) == live
    assert len(list((root / "releases").iterdir())) == 1, "no release was made"

    from_b = cli("deploy", "--root", str(root), "--repo", str(b))
    assert from_b.returncode == 0, from_b.stderr
    assert (root / "current" / "index.html").read_text() == "shared history\n"
    made_for = git(root / MIRROR, "config", "releases.mirrorof")
    assert made_for == str(b), "the mirror says which repository it holds"

    again = cli("deploy", "--root", str(root), "--repo", str(a), "--ref", only_in_a)
    assert again.returncode == 0, again.stderr
    assert (root / "current" / "index.html").read_text() == "only in A\n"


def test_a_mirror_without_a_recorded_url_is_made_again(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    """A mirror that does not say which URL it was made for (as every mirror made before they
    were keyed by URL) may hold another repository's objects: it is replaced by a fresh one,
    and a stray object put into it is gone."""
    repo = init_repo(tmp_path / "app")
    commit(repo, {"index.html": "v1\n"}, "v1")
    assert cli("deploy", "--root", str(root), "--repo", str(repo)).returncode == 0
    mirror = root / MIRROR
    git(mirror, "config", "--unset", "releases.mirrorof")
    stray_file = tmp_path / "stray.txt"
    stray_file.write_text("an object from some other repository\n")
    stray = git(mirror, "hash-object", "-w", str(stray_file))
    commit(repo, {"index.html": "v2\n"}, "v2")
    result = cli("deploy", "--root", str(root), "--repo", str(repo))
    assert result.returncode == 0, result.stderr
    assert "before mirrors were keyed by URL" in result.stderr
    assert (root / "current" / "index.html").read_text() == "v2\n"
    assert git(mirror, "config", "releases.mirrorof") == str(repo)
    assert stray not in git(mirror, "cat-file", "--batch-all-objects", "--batch-check")
    assert not list(mirror.parent.glob(".tmp-mirror-*")), "the old mirror is deleted"
