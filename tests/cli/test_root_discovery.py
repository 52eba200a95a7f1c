"""Finding the deploy root: --root (before or after the command), $RELEASES_ROOT, else like git
the nearest directory holding `.releases/` from the current directory up; `init` creating a
missing root; hints naming --root when it was given."""

from __future__ import annotations

from pathlib import Path

from helpers import Cli, current_id, deploy_ok, tree_state

NOT_INSIDE = "releases: error: not inside a deploy root (pass --root or cd into one)"


def test_commands_find_the_root_from_inside_it(cli: Cli, root: Path, app: Path) -> None:
    """`cd /srv/shop/current && releases status` works: from `current` (its resolved release
    directory), from a directory under shared/ and from the root itself, every read names the
    root's live release, and a rollback from inside a release acts on that root."""
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    (root / "shared" / "uploads").mkdir()
    for where in (root / "current", root / "current" / "pages", root / "shared" / "uploads", root):
        status = cli("status", cwd=where)
        assert status.returncode == 0, (where, status.stderr)
        assert f"current: {second}" in status.stdout
        assert f"path: {root / 'releases' / second}" in status.stdout
    rolled = cli("rollback", cwd=root / "current" / "pages")
    assert rolled.returncode == 0, rolled.stderr
    assert current_id(root) == first


def test_outside_any_root_one_line_and_no_init_hint(cli: Cli, tmp_path: Path, app: Path) -> None:
    """In a directory that is in no deploy root, every command that needs one says so in one
    line (exit 4), suggests --root or cd, never `init`, and creates nothing."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = tree_state(tmp_path)
    for args in (("status",), ("list",), ("history",), ("rollback",), ("prune",), ("doctor",)):
        result = cli(*args, cwd=elsewhere)
        assert result.returncode == 4, (args, result.stderr)
        assert result.stderr.strip() == NOT_INSIDE, (args, result.stderr)
    deployed = cli("deploy", "--source", str(app), cwd=elsewhere)
    assert deployed.returncode == 4 and deployed.stderr.strip() == NOT_INSIDE
    assert tree_state(tmp_path) == before


def test_a_root_planted_inside_a_release_is_content(cli: Cli, root: Path, app: Path) -> None:
    """A release that ships its own `.releases/` and `releases/` (untrusted content) does not
    become the root for commands run inside it: the search goes on up to the real root."""
    (app / ".releases" / "meta").mkdir(parents=True)
    (app / "releases").mkdir()
    live = deploy_ok(cli, root, app)
    assert (root / "releases" / live / ".releases").is_dir()
    status = cli("status", cwd=root / "current")
    assert status.returncode == 0, status.stderr
    assert f"current: {live}" in status.stdout and f"path: {root}/releases/{live}\n" in (
        status.stdout + "\n"
    )


def test_root_before_the_command_works_like_after(cli: Cli, root: Path, app: Path) -> None:
    """`releases --root X deploy` deploys into X, as `releases deploy --root X` does; the
    command's own --root wins over the one before it."""
    result = cli("--root", str(root), "deploy", "--source", str(app))
    assert result.returncode == 0, result.stderr
    live = current_id(root)
    other = root.parent / "other"
    listed = cli("--root", str(other), "list", "--root", str(root), "--json")
    assert listed.returncode == 0, listed.stderr
    assert f'"current": "{live}"' in listed.stdout


def test_init_creates_a_missing_root_and_says_so(cli: Cli, tmp_path: Path) -> None:
    """`init --root a/b/shop` creates the root with its missing parents, names each directory
    it created on stderr, and a second init creates nothing and says nothing of the kind."""
    target = tmp_path / "a" / "b" / "shop"
    made = cli("init", "--root", str(target))
    assert made.returncode == 0, made.stderr
    for created in (tmp_path / "a", tmp_path / "a" / "b", target, target / "releases"):
        assert f"created {created}\n" in made.stderr
    assert (target / ".releases").is_dir() and (target / "shared").is_dir()
    again = cli("init", "--root", str(target))
    assert again.returncode == 0 and "created" not in again.stderr


def test_init_without_root_uses_the_current_directory(cli: Cli, tmp_path: Path) -> None:
    """`init` in a plain directory makes that directory the root (no search upwards)."""
    here = tmp_path / "here"
    here.mkdir()
    result = cli("init", cwd=here)
    assert result.returncode == 0, result.stderr
    assert (here / ".releases").is_dir() and (here / "releases").is_dir()


def test_init_refuses_a_file_where_the_root_should_be(cli: Cli, tmp_path: Path) -> None:
    """A file at the root's path: exit 3, one line, the file untouched."""
    target = tmp_path / "shop"
    target.write_text("not a directory\n")
    result = cli("init", "--root", str(target))
    assert result.returncode == 3
    assert result.stderr.strip().startswith("releases: error: deploy root")
    assert target.read_text() == "not a directory\n"


def test_hints_name_the_root_when_it_was_given(cli: Cli, root: Path, app: Path) -> None:
    """stage's "switch ID makes it live" hint carries --root when the root was given with
    --root, and not when it was found from the current directory; pasting it works."""
    deploy_ok(cli, root, app)
    staged = cli("stage", "--root", str(root), "--source", str(app))
    assert staged.returncode == 0, staged.stderr
    staged_id = staged.stdout.strip()
    hint = f"`releases switch {staged_id} --root {root}` makes it live"
    assert hint in staged.stderr
    switched = cli("switch", staged_id, "--root", str(root))
    assert switched.returncode == 0 and current_id(root) == staged_id
    inside = cli("stage", "--source", str(app), cwd=root)
    assert inside.returncode == 0, inside.stderr
    assert f"`releases switch {inside.stdout.strip()}` makes it live" in inside.stderr


def test_unknown_release_hint_names_the_root(cli: Cli, root: Path, app: Path) -> None:
    """An unknown --to names `releases list --root X` as the way to see the ids."""
    deploy_ok(cli, root, app)
    result = cli("rollback", "--root", str(root), "--to", "20000101T000000Z")
    assert result.returncode == 4
    assert f"(see `releases list --root {root}`)" in result.stderr
