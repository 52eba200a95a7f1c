"""releases.toml and flags: every key documented and honoured, everything checked before anything
changes (one line naming the file, line and key, or the flag; exit 3), flags win."""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

import pytest
from helpers import REPO, Cli, current_id, deploy_ok, tree_state
from hypothesis import given, settings
from hypothesis import strategies as st

from releases_cli import config
from releases_cli.config import Flags, values
from releases_cli.core.compat import load_toml
from releases_cli.core.errors import InvalidInput

DOCS = REPO / "docs" / "configuration.md"


def _write_config(root: Path, text: str) -> None:
    (root / "releases.toml").write_text(text)


def _one_error_line(stderr: str) -> str:
    """The single `releases: error: ...` line stderr must consist of."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("releases: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0].removeprefix("releases: error: ")


# -- the reference page and the schema agree ----------------------------------------------------


def test_docs_document_every_setting_with_its_default() -> None:
    """docs/configuration.md has one table row per key the config declares, with its default."""
    text = DOCS.read_text()
    start = text.index("| key | type | default | meaning |")
    table = text[start : text.index("\n\n", start)]
    rows = dict(re.findall(r"^\| `([a-z0-9_.]+)` \| [^|]+ \| ([^|]+) \|", table, flags=re.M))
    declared = config.defaults()
    assert set(rows) == set(declared), f"docs vs config: {set(rows) ^ set(declared)}"
    for key, default in declared.items():
        if default in (None, "", ()):
            continue  # documented in words ("none", "the preset's", ...)
        expected = str(default).lower() if isinstance(default, bool) else repr(default)
        shown = rows[key].strip()
        assert shown == f"`{expected.replace(chr(39), chr(34))}`", f"{key}: docs say {shown}"


def test_every_docs_example_is_valid_and_together_they_set_every_key() -> None:
    """Each ```toml block of the reference is accepted as it stands, and every key appears in
    one of them, so every key has a working example."""
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(), flags=re.S)
    seen: set[str] = set()
    for block in blocks:
        config.loads(block, "docs example")
        for name, value in load_toml(block).items():
            inner = value.items() if isinstance(value, dict) else []
            seen |= {f"{name}.{key}" for key, _ in inner} if inner else {name}
    assert set(config.defaults()) <= seen, set(config.defaults()) - seen


# -- the file -----------------------------------------------------------------------------------


def test_defaults_when_the_file_is_empty() -> None:
    """An empty file gives every default (build.commands None: the preset decides)."""
    cfg = config.parse({})
    assert cfg == config.Config()
    assert cfg.keep == 5
    assert cfg.build.commands is None
    assert cfg.build.preset == "auto"
    assert cfg.shared.files == ()


def test_every_value_is_typed_after_parsing() -> None:
    """Values come out in the types code downstream uses: tuples, floats for seconds, and
    normalised shared paths."""
    cfg = config.loads(
        'keep = 2\n[build]\ncommands = ["a", "b"]\ntimeout = 3\n'
        '[shared]\ndirs = ["public//uploads/"]\n[health]\ntimeout = 5\n'
        '[hooks]\non_failure = ["x"]\n'
    )
    assert cfg.build.commands == ("a", "b")
    assert cfg.build.timeout == 3.0 and isinstance(cfg.build.timeout, float)
    assert cfg.health.timeout == 5.0 and isinstance(cfg.health.timeout, float)
    assert cfg.shared.dirs == ("public/uploads",)
    assert cfg.hooks.at("on_failure") == ("x",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kepe = 3\n", "releases.toml:1: unknown key kepe (did you mean keep?)"),
        (
            'keep = 2\n\n[build]\ncomands = ["npm ci"]\n',
            "releases.toml:4: unknown key build.comands (did you mean build.commands?)",
        ),
        ("[nosuchsection]\nx = 1\n", "releases.toml:1: unknown key nosuchsection"),
        (
            '[health]\ncommand = "pm2 reload all"\n',
            "releases.toml:2: unknown key health.command (did you mean restart.command?)",
        ),
        (
            '[hooks]\nbefore_deploy = ["x"]\n',
            "releases.toml:2: unknown key hooks.before_deploy (did you mean hooks.before_build?)",
        ),
        ("build.timout = 3\n", "releases.toml:1: unknown key build.timout"),
        ("[biuld]\ntimeout = 3\n", "releases.toml:1: unknown key biuld (did you mean build?)"),
    ],
)
def test_unknown_key_names_line_and_nearest_key(text: str, message: str) -> None:
    """A typo in a key is an error naming the file, the line and the key, with the nearest
    valid key when there is one, never silently ignored."""
    with pytest.raises(InvalidInput) as caught:
        config.loads(text)
    assert caught.value.message.startswith(message), caught.value.message


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"keep": "3"}, "keep must be an integer, got '3'"),
        ({"keep": True}, "keep must be an integer"),
        ({"keep": 0}, "keep must be at least 1, got 0"),
        ({"build": {"commands": "npm ci"}}, "build.commands must be a list of strings"),
        ({"build": {"commands": ["npm ci", 3]}}, "build.commands must be a list of strings"),
        ({"build": {"commands": ["a\0b"]}}, "build.commands must be a list of strings"),
        ({"shared": {"files": ".env"}}, "shared.files must be a list of strings"),
        ({"shared": {"dirs": ["../up"]}}, "shared.dirs entry '../up' must be a relative path"),
        ({"shared": {"dirs": ["."]}}, "shared.dirs entry '.' must be a relative path"),
        ({"health": {"timeout": "60"}}, "health.timeout must be a number (seconds)"),
        ({"health": {"status": 99}}, "health.status must be an HTTP status from 100 to 599"),
        ({"source": {"submodules": "yes"}}, "source.submodules must be true or false"),
        ({"build": {"preset": "next"}}, "build.preset must be one of auto, nextjs, none"),
        ({"build": {"share_static": "yes"}}, "build.share_static must be one of auto, true"),
        ({"build": "npm ci"}, "[build] must be a table"),
        ({"restart": {"command": ["a"]}}, "restart.command must be a string, got a list"),
    ],
)
def test_wrong_type_or_value_names_key_and_expectation(
    document: dict[str, object], named: str
) -> None:
    """A wrong type or value names the key and what was expected."""
    with pytest.raises(InvalidInput, match=re.escape(named)):
        config.parse(document)


@pytest.mark.parametrize(
    "key", ["build.timeout", "restart.timeout", "health.timeout", "health.interval"]
)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "-0.5", "1e9"])
def test_durations_refuse_nan_infinity_negative_and_huge(key: str, value: str) -> None:
    """NaN, infinities, negatives and absurd sizes are refused in every duration, naming the
    key and its line (a NaN limit would otherwise silently mean "no limit")."""
    section, name = key.split(".")
    with pytest.raises(InvalidInput) as caught:
        config.loads(f"keep = 2\n[{section}]\n{name} = {value}\n")
    assert caught.value.message.startswith(f"releases.toml:3: {key} must be a number of seconds")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_duration_is_accepted_exactly_when_finite_and_in_range(seconds: float) -> None:
    """Over all floats: a time limit is accepted iff it is finite and from 0 to the maximum,
    read from the file's own spelling of the number."""
    ok = math.isfinite(seconds) and 0 <= seconds <= values.MAX_SECONDS
    try:
        cfg = config.loads(f"[build]\ntimeout = {seconds!r}\n")
    except InvalidInput as error:
        assert not ok, error.message
        assert "build.timeout must be a number of seconds" in error.message
    else:
        assert ok and cfg.build.timeout == seconds


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("localhost:3000/", "must be an http:// or https:// URL with a host"),
        ("127.0.0.1:3000", "must be an http:// or https:// URL with a host"),
        ("ftp://127.0.0.1/", "must be an http:// or https:// URL with a host"),
        ("http:///health", "must be an http:// or https:// URL with a host"),
        ("http://127.0.0.1:abc/", "has a port that is not a number from 1 to 65535"),
        ("http://127.0.0.1:70000/", "has a port that is not a number from 1 to 65535"),
        ("http://127.0.0.1:0/", "has a port that is not a number from 1 to 65535"),
        ("http://[::1/", "is not a valid URL"),
        ("http://127.0.0.1/a b", "must be a URL without spaces or control characters"),
    ],
)
def test_malformed_health_url_is_refused(url: str, why: str) -> None:
    """A health URL that could never be checked is refused when the file is read, naming the
    key, not after the switch."""
    with pytest.raises(InvalidInput, match=re.escape(f"releases.toml:2: health.url {why}")):
        config.loads(f"[health]\nurl = {url!r}\n".replace("'", '"'))


def test_valid_health_urls_are_kept_as_written() -> None:
    """http and https URLs with a host (names, IPv4, IPv6) and a port are accepted unchanged."""
    for url in ("http://127.0.0.1:3000/", "https://shop.example/health", "http://[::1]:8080/x"):
        assert config.loads(f'[health]\nurl = "{url}"\n').health.url == url


_toml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_keys = st.sampled_from([*config.defaults(), "build", "hooks", "nope"]) | st.text(max_size=8)


@settings(max_examples=300)
@given(st.dictionaries(_keys, _toml_values, max_size=4))
def test_any_document_is_a_config_or_a_one_line_invalid_input(
    document: dict[str, object],
) -> None:
    """Whatever a document holds (sections, keys and values of any type, nested anyhow), reading
    it gives a Config or InvalidInput with a one-line message, never another exception."""
    nested: dict[str, object] = {}
    for key, value in document.items():
        section, _, name = key.rpartition(".")
        if section:
            nested.setdefault(section, {})
            inner = nested[section]
            if isinstance(inner, dict):
                inner[name] = value
        else:
            nested[key] = value
    try:
        config.parse(nested)
    except InvalidInput as error:
        assert "\n" not in error.message and len(error.message) < 300


# -- reading the file ---------------------------------------------------------------------------


def test_cli_unknown_key_exit_3_changes_nothing(cli: Cli, root: Path, app: Path) -> None:
    """Through the real CLI: exit 3, one line naming file, line and key, and no release made."""
    _write_config(root, '[build]\ncomands = ["echo hi"]\n')
    before = tree_state(root)
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 3
    assert _one_error_line(result.stderr) == (
        f"{root}/releases.toml:2: unknown key build.comands (did you mean build.commands?)"
    )
    assert tree_state(root) == before


def test_cli_invalid_toml_is_reported(cli: Cli, root: Path, app: Path) -> None:
    """A file that is not TOML is exit 3 naming the file and the line."""
    _write_config(root, "keep = = 3\n")
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 3
    assert "releases.toml is not valid TOML" in result.stderr
    assert "line 1" in _one_error_line(result.stderr)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"keep = 2\n\xff\xfe = 1\n", "releases.toml:2: not UTF-8 text"),
        (b"\x00\x01\x02binary\x00", "releases.toml is not valid TOML"),
        (b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "releases.toml is not valid TOML"),
        (b"x = " + b"{a=" * 3000 + b"1" + b"}" * 3000 + b"\n", "is not valid TOML"),
        (b"[" + b".".join([b"a"] * 20000) + b"]\n", "releases.toml:1: unknown key a"),
        (b"[keep" + b".x" * 20000 + b"]\n", "keep must be an integer, got a table"),
    ],
    ids=["not-utf8", "binary", "deep-array", "deep-inline-table", "deep-header", "deep-value"],
)
def test_cli_hostile_file_content_is_one_line_exit_3(
    cli: Cli, root: Path, app: Path, content: bytes, expected: str
) -> None:
    """Non-UTF-8, binary and pathologically nested files: one line naming the file, exit 3,
    nothing changed, no traceback."""
    (root / "releases.toml").write_bytes(content)
    before = tree_state(root)
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 3, result.stderr
    line = _one_error_line(result.stderr)
    # Python 3.10 reads TOML with tomli, which gives up on a 20,000-part dotted key.
    deep_key = content.startswith(b"[") and sys.version_info < (3, 11)
    assert expected in line or (deep_key and line.endswith("is not valid TOML: nested too deeply"))
    assert tree_state(root) == before


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "dangling", "huge"])
def test_cli_config_that_is_not_a_small_regular_file_is_refused_without_reading(
    cli: Cli, root: Path, app: Path, tmp_path: Path, kind: str
) -> None:
    """releases.toml as a symlink to a FIFO (no writer: a plain open would block forever) or to
    /dev/zero (endless), a directory, a dangling symlink, or a file over 1 MiB: exit 3 naming
    it, and the command returns (the subprocess timeout would fail the test otherwise)."""
    config_file = root / "releases.toml"
    if kind == "fifo":
        os.mkfifo(tmp_path / "fifo")
        config_file.symlink_to(tmp_path / "fifo")
    elif kind == "dev-zero":
        config_file.symlink_to("/dev/zero")
    elif kind == "directory":
        config_file.mkdir()
    elif kind == "dangling":
        config_file.symlink_to(tmp_path / "nothing")
    else:
        config_file.write_text("# padding\n" * 120_000)
    result = cli("deploy", "--root", str(root), "--source", str(app), timeout=60)
    assert result.returncode == 3, result.stderr
    assert str(config_file) in _one_error_line(result.stderr)
    assert sorted(p.name for p in root.iterdir()) == ["releases.toml"]


def test_symlink_to_a_regular_config_file_is_followed(cli: Cli, root: Path, app: Path) -> None:
    """A releases.toml that links to a managed file elsewhere is read like the file itself."""
    managed = root.parent / "managed.toml"
    managed.write_text('[build]\ncommands = ["echo linked > built.txt"]\n')
    (root / "releases.toml").symlink_to(managed)
    release = deploy_ok(cli, root, app)
    assert (root / "releases" / release / "built.txt").read_text() == "linked\n"


@pytest.mark.parametrize("command", ["rollback", "switch", "prune"])
def test_invalid_config_refuses_rollback_switch_and_prune(
    cli: Cli, root: Path, app: Path, command: str
) -> None:
    """Rollback, switch and prune read the config too: an invalid one is exit 3 naming the key,
    with `current`, the releases and the history unchanged."""
    first = deploy_ok(cli, root, app)
    deploy_ok(cli, root, app)
    _write_config(root, "[health]\ninterval = nan\n")
    before = tree_state(root)
    args = {"rollback": [], "switch": [first], "prune": ["--keep", "1"]}[command]
    result = cli(command, *args, "--root", str(root))
    assert result.returncode == 3
    assert "releases.toml:2: health.interval must be a number of seconds" in result.stderr
    assert tree_state(root) == before


# -- flags --------------------------------------------------------------------------------------


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
    """A flag override goes through the key's reader: a bad --preset names the flag and key;
    a good one replaces the file's value, and flags not given leave the file's values."""
    with pytest.raises(InvalidInput, match=r"--preset \(build\.preset\) must be one of"):
        config.parse({}).with_flags(Flags(preset="webpack"))
    cfg = config.parse({"build": {"preset": "none"}, "keep": 4}).with_flags(Flags(preset="nextjs"))
    assert cfg.build.preset == "nextjs"
    assert cfg.keep == 4
    cleared = config.parse({"restart": {"command": "x"}}).with_flags(Flags(restart=""))
    assert cleared.restart.command == ""


def test_a_source_flag_replaces_both_kinds_of_source_in_the_file() -> None:
    """--repo drops the file's source.path (and --source its source.repo), keeping source.ref."""
    cfg = config.parse({"source": {"path": "/srv/app", "ref": "main"}})
    from_repo = cfg.with_flags(Flags(repo="https://example.com/app.git"))
    assert from_repo.source.path == "" and from_repo.source.repo == "https://example.com/app.git"
    assert from_repo.source.ref == "main"
    assert cfg.with_flags(Flags(source="/other")).source.repo == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--wait", "nan"], "--wait must be a number of seconds from 0 to 604800, got nan"),
        (["--wait", "inf"], "--wait must be a number of seconds from 0 to 604800, got inf"),
        (["--wait", "-1"], "--wait must be a number of seconds from 0 to 604800, got -1.0"),
        (["--keep", "0"], "--keep (keep) must be at least 1, got 0"),
        (["--preset", "webpack"], "--preset (build.preset) must be one of auto, nextjs, none"),
        (["--health-url", "localhost:3000"], "--health-url (health.url) must be an http://"),
        (["--health-url", "http://h:x/"], "--health-url (health.url) has a port that"),
    ],
)
def test_cli_bad_flag_values_are_one_line_exit_3_changing_nothing(
    cli: Cli, root: Path, app: Path, args: list[str], message: str
) -> None:
    """Flag values that parse but are invalid: one line naming the flag (and its key), exit 3,
    no release made."""
    before = tree_state(root)
    result = cli("deploy", "--root", str(root), "--source", str(app), *args)
    assert result.returncode == 3, result.stderr
    assert _one_error_line(result.stderr).startswith(message)
    assert tree_state(root) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deploy", "--wait", "abc"], "Invalid value for '--wait': 'abc' is not a valid float"),
        (["deploy", "--wiat", "3"], "No such option: --wiat"),
        (["switch"], "Missing argument 'ID'"),
        (["deploy", "--keep"], "Option '--keep' requires an argument"),
        (["deploy", "--keep", "two"], "Invalid value for '--keep': 'two' is not a valid int"),
        (["nosuch", "x"], "No such command 'nosuch'"),
    ],
)
def test_cli_usage_errors_are_one_line_exit_2(
    cli: Cli, root: Path, args: list[str], message: str
) -> None:
    """A command line that cannot be parsed: one `releases: error:` line (not click's box) that
    points at the command's --help, exit 2 (usage), nothing created."""
    result = cli(args[0], "--root", str(root), *args[1:])
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert line.startswith(message), line
    assert re.search(r"; see 'releases( [a-z]+)? --help'$", line), line
    assert list(root.iterdir()) == []


def test_help_and_no_arguments_still_print_the_help(cli: Cli) -> None:
    """--help exits 0 with the usage; `releases` alone prints the help too (exit 2, as click
    does for a missing command)."""
    shown = cli("--help")
    assert shown.returncode == 0 and "Usage: releases" in shown.stdout
    bare = cli()
    assert bare.returncode == 2 and "Usage: releases" in bare.stdout
    assert "error" not in bare.stderr


# -- doctor -------------------------------------------------------------------------------------


def test_doctor_reports_an_invalid_config_as_a_problem(cli: Cli, root: Path, app: Path) -> None:
    """doctor reads releases.toml as every command does: a bad key is a problem (exit 10) with
    the same message and a fix; a valid or absent file is ok."""
    deploy_ok(cli, root, app)
    assert cli("doctor", "--root", str(root)).returncode == 0
    _write_config(root, "[build]\ntimeout = -5\n")
    before = tree_state(root)
    result = cli("doctor", "--root", str(root))
    assert result.returncode == 10
    assert "PROBLEM  config: " in result.stdout
    assert "releases.toml:2: build.timeout must be a number of seconds" in result.stdout
    assert "fix: correct releases.toml" in result.stdout
    assert tree_state(root) == before
    _write_config(root, "[build]\ntimeout = 5\n")
    assert cli("doctor", "--root", str(root)).returncode == 0


def test_every_setting_has_exactly_one_reader() -> None:
    """Each section's readers name exactly the fields of its NamedTuple, so no key can be
    documented and defaulted but never read from releases.toml (or read into nothing)."""
    from releases_cli.config.document import READERS, SECTIONS

    base = config.Config()
    assert set(READERS) == set(SECTIONS)
    for name in SECTIONS:
        assert list(READERS[name]) == list(getattr(base, name)._fields), name
