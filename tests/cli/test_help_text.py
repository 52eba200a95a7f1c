"""What `--help` and `--version` show: the version, defaults, readable metavars, and help texts
printed as written (brackets are not eaten as markup)."""

from __future__ import annotations

import re

from helpers import Cli

from releases_cli import __version__


def test_version(cli: Cli) -> None:
    """`releases --version` prints the package version and exits 0, with no command."""
    result = cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"releases {__version__}"


def test_brackets_in_help_are_kept(cli: Cli) -> None:
    """`--restart`'s help names its releases.toml key `[restart] command` literally (rich
    markup used to eat `[restart]` and print "( command)")."""
    result = cli("deploy", "--help", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "Command run after the switch ([restart] command)." in result.stdout
    assert "( command)" not in result.stdout
    assert "([health] url)" in result.stdout


def test_metavars_and_defaults(cli: Cli) -> None:
    """Options show what they take (DIR, URL, CMD, N, SECONDS, ID) instead of types, and
    their defaults: keep's 5, wait's 0, history's 20."""
    deploy = cli("deploy", "--help", env={"COLUMNS": "200"}).stdout
    for option in (
        "--root DIR",
        "--source DIR",
        "--repo URL",
        "--ref REF",
        "--build CMD",
        "--keep N",
        "--wait SECONDS",
        "--restart CMD",
        "--health-url URL",
    ):
        assert re.search(rf"{re.escape(option)}\s", deploy), option
    assert "default: 5" in deploy and "[default: 0]" in deploy
    assert "<str>" not in deploy and "TEXT" not in deploy
    rollback = cli("rollback", "--help", env={"COLUMNS": "200"}).stdout
    assert re.search(r"--to ID\s", rollback) and "previously live release" in rollback
    history = cli("history", "--help", env={"COLUMNS": "200"}).stdout
    assert re.search(r"-n, --limit N\s", history) and "[default: 20" in history
    switch = cli("switch", "--help", env={"COLUMNS": "200"}).stdout
    assert re.search(r"Usage: releases switch \[OPTIONS\] \{?ID\}?\n", switch), switch


def test_top_level_help_shows_the_global_options(cli: Cli) -> None:
    """`releases --help` lists --root DIR and --version next to the commands."""
    result = cli("--help", env={"COLUMNS": "200"})
    assert result.returncode == 0
    assert re.search(r"--root DIR\s", result.stdout) and "--version" in result.stdout
    assert "Example: releases --root /srv/shop deploy" in result.stdout
