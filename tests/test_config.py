"""releases.toml: every key documented, unknown keys and wrong types named, flags win."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO, Cli, current_id, tree_state

from releases_cli import config
from releases_cli.core.errors import InvalidInput


def _write_config(root: Path, text: str) -> None:
    (root / "releases.toml").write_text(text)


def test_readme_documents_every_setting_with_its_default() -> None:
    """The README's configuration table has one row per SCHEMA key, showing SCHEMA's default."""
    readme = (REPO / "README.md").read_text()
    start = readme.index("| key | type | default | meaning |")
    readme = readme[start : readme.index("\n\n", start)]
    rows = dict(re.findall(r"^\| `([a-z_.]+)` \| [^|]+ \| ([^|]+) \|", readme, flags=re.M))
    for (section, key), (_type, default) in config.SCHEMA.items():
        dotted = f"{section}.{key}" if section else key
        assert dotted in rows, f"{dotted} missing from the README configuration table"
        shown = rows[dotted].strip()
        if default in (None, "", []):
            continue  # documented in words ("none", "the preset's", ...)
        expected = str(default).lower() if isinstance(default, bool) else repr(default)
        expected = expected.replace("'", '"')
        assert shown == f"`{expected}`", f"{dotted}: README says {shown}, SCHEMA says {default!r}"
    documented = set(rows)
    declared = {f"{s}.{k}" if s else k for s, k in config.SCHEMA}
    assert documented <= declared, f"README documents unknown keys: {documented - declared}"


def test_defaults_when_the_file_is_empty() -> None:
    """An empty file gives every SCHEMA default (build.commands None: the preset decides)."""
    cfg = config.parse({})
    assert cfg.keep == 5
    assert cfg.get("build", "commands") is None
    assert cfg.get("build", "preset") == "auto"
    assert cfg.get("shared", "files") == []


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"kepe": 3}, "unknown key kepe"),
        ({"build": {"comands": ["npm ci"]}}, "unknown key build.comands"),
        ({"nosuchsection": {"x": 1}}, "unknown key nosuchsection"),
    ],
)
def test_unknown_key_is_named(document: dict[str, object], named: str) -> None:
    """A typo in a key is an error naming the key, not silently ignored."""
    with pytest.raises(InvalidInput, match=re.escape(named)):
        config.parse(document)


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"keep": "3"}, "keep must be an integer"),
        ({"keep": True}, "keep must be an integer"),
        ({"build": {"commands": "npm ci"}}, "build.commands must be a list of strings"),
        ({"build": {"commands": ["npm ci", 3]}}, "build.commands must be a list of strings"),
        ({"shared": {"files": ".env"}}, "shared.files must be a list of strings"),
        ({"health": {"timeout": "60"}}, "health.timeout must be a number"),
        ({"source": {"submodules": "yes"}}, "source.submodules must be true or false"),
        ({"build": {"preset": "next"}}, "build.preset must be one of auto, nextjs, none"),
        ({"build": "npm ci"}, "[build] must be a table"),
    ],
)
def test_wrong_type_names_key_and_expected_type(document: dict[str, object], named: str) -> None:
    """A wrong type names the key and what was expected."""
    with pytest.raises(InvalidInput, match=re.escape(named)):
        config.parse(document)


def test_cli_unknown_key_exit_3_changes_nothing(cli: Cli, root: Path, app: Path) -> None:
    """Through the real CLI: exit 3, one line naming the key, and no release made."""
    _write_config(root, '[build]\ncomands = ["echo hi"]\n')
    before = tree_state(root)
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 3
    assert result.stderr.strip() == "releases: error: config: unknown key build.comands"
    assert tree_state(root) == before


def test_cli_invalid_toml_is_reported(cli: Cli, root: Path, app: Path) -> None:
    """A file that is not TOML is exit 3 naming the file."""
    _write_config(root, "keep = = 3\n")
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 3
    assert "releases.toml is not valid TOML" in result.stderr


def test_file_settings_apply_and_flags_override_them(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """source.path and build.commands come from the file; --source and --build replace them."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.html").write_text("from-flag\n")
    _write_config(
        root,
        f'keep = 1\n[source]\npath = "{app}"\n[build]\ncommands = ["echo file > built.txt"]\n',
    )
    result = cli("deploy", "--root", str(root))
    assert result.returncode == 0, result.stderr
    first = root / "releases" / current_id(root)
    assert (first / "index.html").read_text() == "v1\n"
    assert (first / "built.txt").read_text() == "file\n"

    result = cli(
        "deploy", "--root", str(root), "--source", str(other), "--build", "echo flag > built.txt"
    )
    assert result.returncode == 0, result.stderr
    second = root / "releases" / current_id(root)
    assert (second / "index.html").read_text() == "from-flag\n"
    assert (second / "built.txt").read_text() == "flag\n"


def test_keep_flag_overrides_file(cli: Cli, root: Path, app: Path) -> None:
    """keep = 1 in the file would prune to current + previous; --keep 3 keeps three."""
    _write_config(root, "keep = 1\n")
    for _ in range(3):
        assert cli("deploy", "--root", str(root), "--source", str(app)).returncode == 0
    assert len(list((root / "releases").iterdir())) == 2  # current + rollback target
    assert cli("deploy", "--root", str(root), "--source", str(app), "--keep", "3").returncode == 0
    assert len(list((root / "releases").iterdir())) == 3


def test_flag_value_is_checked_like_the_file() -> None:
    """A flag override goes through the same check: a bad --preset names the key."""
    with pytest.raises(InvalidInput, match=r"build\.preset must be one of"):
        config.parse({}).with_overrides(build__preset="webpack")
    cfg = config.parse({"build": {"preset": "none"}}).with_overrides(build__preset="nextjs")
    assert cfg.get("build", "preset") == "nextjs"
