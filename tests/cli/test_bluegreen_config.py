"""Blue-green settings and state as data: bad [serve] values are one-line errors (exit 3); the
state file is parsed strictly, a damaged or planted one is never trusted or followed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Cli, tree_state
from hypothesis import given
from hypothesis import strategies as st

from releases_cli import config
from releases_cli.core.errors import InvalidInput
from releases_cli.core.layout import DeployRoot
from releases_cli.serving import nginx, servestate


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('mode = "green"', "serve.mode must be one of reload, blue-green"),
        ('ports = "80-90"', "serve.ports must be a port range"),
        ('ports = "4000-3000"', "serve.ports must be a port range"),
        ('app = "123"', "serve.app must be a letter"),
        ('app = "Shop-1"', "serve.app must be a letter"),
        ('grace = "soon"', 'serve.grace must be seconds or a duration like "15m"'),
        ("grace = -1", "serve.grace must be a number of seconds"),
        ('start = ["server.js"]', "serve.start must pass the port"),
        ("instances = 0", "serve.instances must be from 1 to 64"),
        ('env = { "1X" = "y" }', "serve.env has an invalid variable name"),
        ('health_path = "health"', "serve.health_path must be a URL path"),
        ("nginx_test = []", "serve.nginx_test must be a non-empty list"),
    ],
)
def test_bad_serve_values_are_refused_naming_the_key(text: str, message: str) -> None:
    """Each bad [serve] value is an InvalidInput naming the key and what is expected."""
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        config.loads(f"[serve]\n{text}\n")


def test_durations_read_units() -> None:
    """grace accepts seconds or s/m/h/d suffixes."""
    for text, seconds in (("0", 0), ('"90s"', 90), ('"15m"', 900), ('"2h"', 7200), ("30", 30)):
        assert config.loads(f"[serve]\ngrace = {text}\n").serve.grace == seconds


def test_cli_bad_serve_config_exit_3_changes_nothing(cli: Cli, root: Path, app: Path) -> None:
    """A deploy with a bad [serve] value fails before anything is made: exit 3, one line."""
    assert cli("init", "--root", str(root)).returncode == 0
    (root / "releases.toml").write_text('[serve]\nmode = "blue-green"\nports = "1-2"\n')
    before = tree_state(root)
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 3
    assert result.stderr.startswith("releases: error: ") and len(result.stderr.splitlines()) == 1
    assert tree_state(root) == before


def test_serve_commands_need_blue_green_mode(cli: Cli, root: Path) -> None:
    """nginx, preview and reap in reload mode: one line naming the setting, exit 3."""
    assert cli("init", "--root", str(root)).returncode == 0
    for args in (["nginx"], ["reap"], ["preview", "20261126T101500Z"]):
        result = cli(*args, "--root", str(root))
        assert result.returncode == 3, result.stderr
        assert 'mode = "blue-green"' in result.stderr


def _root(tmp_path: Path) -> DeployRoot:
    root = DeployRoot(tmp_path)
    root.ensure_layout()
    return root


def test_state_round_trips(tmp_path: Path) -> None:
    """What is written is what is read back."""
    from datetime import datetime

    from releases_cli.core.compat import UTC

    root = _root(tmp_path)
    until = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    state = servestate.ServeState(
        "20261127T120000Z",
        True,
        {
            "20261127T120000Z": servestate.AppEntry(3100),
            "20261127T110000Z": servestate.AppEntry(3101, until, True),
        },
    )
    servestate.write_state(root, state)
    assert servestate.read_state(root) == state


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
_ids = st.sampled_from(["20261127T120000Z", "../etc", "x"])
_app = st.fixed_dictionaries(
    {}, optional={"port": _json | st.integers(0, 70000), "until": _json, "routed": _json}
)
_states = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 2, "1"])},
    optional={
        "live": _ids | _json,
        "applied": _json,
        "apps": st.dictionaries(_ids, _app | _json, max_size=3) | _json,
    },
)


@given(_states | _json)
def test_any_json_is_a_state_or_a_parse_error(document: object) -> None:
    """The parser fails only with ValueError (read_state turns it into a damaged, empty state),
    and what it accepts holds only valid ids and ports."""
    import json

    try:
        state = servestate.parse_state(json.dumps(document).encode())
    except ValueError:
        return
    from releases_cli.core.ids import is_valid_id

    assert state.live is None or is_valid_id(state.live)
    assert all(is_valid_id(k) and 1 <= e.port <= 65535 for k, e in state.apps.items())


@pytest.fixture
def quiet_warnings() -> Iterator[None]:
    """warn_once's record of what this process said, as it was before the test."""
    from releases_cli.core import warn

    before = set(warn._said)
    yield
    warn._said.clear()
    warn._said.update(before)


@pytest.mark.usefixtures("quiet_warnings")
def test_damaged_or_linked_state_is_empty_and_flagged(tmp_path: Path) -> None:
    """Damaged JSON, or a symlink planted at state.json, reads as an empty state marked
    damaged (so nothing is stopped on its say-so), and the link is not followed."""
    root = _root(tmp_path)
    servestate.ensure_serve_dir(root)
    path = root.state / "serve" / "state.json"
    path.write_text('{"v": 1, "live": "../etc", "applied": true, "apps": {}}')
    assert servestate.read_state(root).damaged
    path.unlink()
    secret = tmp_path / "secret.json"
    secret.write_text('{"v": 1, "live": null, "applied": true, "apps": {}}')
    os.symlink(secret, path)
    assert servestate.read_state(root).damaged


def test_planted_serve_dir_link_is_refused(cli: Cli, root: Path, app: Path, tmp_path: Path) -> None:
    """.releases/serve planted as a symlink stops a state-changing command (exit 7) before it
    writes anything through it."""
    assert cli("init", "--root", str(root)).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, root / ".releases" / "serve")
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 7, result.stderr
    assert list(elsewhere.iterdir()) == []


def test_include_routes_every_warm_release_and_defaults_to_live() -> None:
    """The include names an upstream per routed release, `<app>_live` on the live one's
    port, and maps both the header and ?dpl= to them."""
    text = nginx.render_include(
        "shop", "20261127T120000Z", {"20261127T120000Z": 3101, "20261127T110000Z": 3100}
    )
    assert "upstream shop_live {\n    server 127.0.0.1:3101" in text
    assert "upstream shop_20261127T110000Z {\n    server 127.0.0.1:3100" in text
    assert "map $http_x_deployment_id $shop_upstream {" in text
    assert "    20261127T110000Z shop_20261127T110000Z;" in text
    assert 'default "20261127T120000Z";' in text
