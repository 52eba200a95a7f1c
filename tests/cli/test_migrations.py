"""[migrations]: each release records a digest of its migration paths; rolling back to a
release whose migrations differ from the live one's warns, or with `rollback = "refuse"` is
refused (exit 7, nothing changed) unless --force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import Cli, current_id, deploy_ok, tree_state


def _two_schemas(cli: Cli, root: Path, app: Path, policy: str) -> tuple[str, str]:
    root.mkdir(exist_ok=True)
    (root / "releases.toml").write_text(
        f'[migrations]\npaths = ["db/migrate", "prisma/schema.prisma"]\nrollback = "{policy}"\n'
    )
    (app / "db" / "migrate").mkdir(parents=True)
    (app / "db" / "migrate" / "001_init.sql").write_text("create table a;\n")
    first = deploy_ok(cli, root, app)
    (app / "db" / "migrate" / "002_add.sql").write_text("alter table a;\n")
    second = deploy_ok(cli, root, app)
    return first, second


def _digests(cli: Cli, root: Path) -> dict[str, str | None]:
    listed = json.loads(cli("list", "--root", str(root), "--json").stdout)["releases"]
    return {r["id"]: r["migrations"] for r in listed}


def test_each_release_records_its_migrations_digest(cli: Cli, root: Path, app: Path) -> None:
    """A new migration changes the digest; an unrelated change keeps it; a root without
    [migrations] records none."""
    first, second = _two_schemas(cli, root, app, "warn")
    (app / "index.html").write_text("v3\n")
    third = deploy_ok(cli, root, app)
    digests = _digests(cli, root)
    assert digests[first] and digests[second] and digests[first] != digests[second]
    assert digests[third] == digests[second]
    (root / "releases.toml").unlink()
    fourth = deploy_ok(cli, root, app)
    assert _digests(cli, root)[fourth] is None


def test_rollback_across_a_schema_change_warns(cli: Cli, root: Path, app: Path) -> None:
    """With the default policy the rollback happens and says the schema may be newer."""
    first, _second = _two_schemas(cli, root, app, "warn")
    result = cli("rollback", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert current_id(root) == first
    assert "database schema may be newer" in result.stdout + result.stderr


def test_refuse_policy_needs_force(cli: Cli, root: Path, app: Path) -> None:
    """`rollback = "refuse"`: exit 7 with one line naming the policy and --force, nothing
    changed; with --force the rollback happens (and still warns)."""
    first, second = _two_schemas(cli, root, app, "refuse")
    before = tree_state(root)
    refused = cli("rollback", "--root", str(root))
    assert refused.returncode == 7
    (line,) = refused.stderr.splitlines()
    assert 'migrations.rollback = "refuse"' in line and "--force" in line
    assert tree_state(root) == before and current_id(root) == second
    forced = cli("rollback", "--root", str(root), "--force")
    assert forced.returncode == 0, forced.stderr
    assert current_id(root) == first


@pytest.mark.parametrize("policy", ["warn", "refuse"])
def test_same_migrations_roll_back_silently(cli: Cli, root: Path, app: Path, policy: str) -> None:
    """Releases with the same migrations roll back without a warning under either policy."""
    _first, _second = _two_schemas(cli, root, app, policy)
    deploy_ok(cli, root, app)
    result = cli("rollback", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert "schema" not in result.stdout + result.stderr


def test_a_linked_migrations_directory_is_not_followed(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """A migrations path that is a symlink in the release is digested as a link (its target
    text), never read through: changing the files behind it changes nothing."""
    root.mkdir(exist_ok=True)
    (root / "releases.toml").write_text('[migrations]\npaths = ["db"]\n')
    (app / "db").symlink_to(outside / "deep")
    first = deploy_ok(cli, root, app)
    (outside / "deep" / "also.txt").write_text("changed\n")
    second = deploy_ok(cli, root, app)
    digests = _digests(cli, root)
    assert digests[first] == digests[second] is not None


def test_bad_migrations_settings_are_refused(cli: Cli, root: Path, app: Path) -> None:
    """An absolute or `..` path, or an unknown policy, is exit 3 naming the key."""
    root.mkdir(exist_ok=True)
    for body, key in (
        ('[migrations]\npaths = ["/etc"]\n', "migrations.paths"),
        ('[migrations]\npaths = ["../x"]\n', "migrations.paths"),
        ('[migrations]\nrollback = "never"\n', "migrations.rollback"),
    ):
        (root / "releases.toml").write_text(body)
        result = cli("deploy", "--root", str(root), "--source", str(app))
        assert result.returncode == 3 and key in result.stderr
