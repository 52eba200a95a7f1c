"""Shell completion of release ids, and the help every command carries."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from helpers import REPO, Cli, deploy_ok, releases_argv
from typer.testing import CliRunner

from releases_cli.cli.app import app


def complete_bash(words: str, cwd: Path | None = None) -> list[str]:
    """What bash completion offers for the last (possibly empty) word of `words`, asked the
    way the installed completion script asks: a real `releases` process with COMP_WORDS."""
    parts = words.split(" ")
    env = {
        **{k: v for k, v in os.environ.items() if k != "RELEASES_ROOT"},
        "PYTHONPATH": str(REPO),
        "_RELEASES_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(parts) - 1),
    }
    result = subprocess.run(
        releases_argv(),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_rollback_to_completes_the_ids_it_would_accept(cli: Cli, root: Path, app: Path) -> None:
    """`rollback --to <TAB>` offers the complete releases other than the live one, newest
    first, filtered by what was typed; failed releases are not offered."""
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    live = deploy_ok(cli, root, app)
    assert cli("deploy", "--root", str(root), "--source", str(app), "--build", "false").returncode
    offered = complete_bash(f"releases rollback --root {root} --to ")
    assert offered == [second, first]
    assert live not in offered
    assert complete_bash(f"releases rollback --root {root} --to {second[:13]}") == [
        i for i in (second, first) if i.startswith(second[:13])
    ]


def test_completion_reads_the_root_given_before_the_command(
    cli: Cli, root: Path, app: Path
) -> None:
    """`releases --root X rollback --to <TAB>` offers X's releases, as `--root X` after the
    command does."""
    first = deploy_ok(cli, root, app)
    deploy_ok(cli, root, app)
    assert complete_bash(f"releases --root {root} rollback --to ") == [first]


@pytest.mark.parametrize("words", ["pin", "unpin", "logs", "diff", "diff 20200101T000000Z"])
def test_operations_commands_complete_every_release(
    cli: Cli, root: Path, app: Path, words: str
) -> None:
    """`pin`, `unpin`, `logs` and both ids of `diff` offer every release on disk, newest first:
    the live one and failed ones too (each can be pinned, read or compared)."""
    first = deploy_ok(cli, root, app)
    live = deploy_ok(cli, root, app)
    assert cli("deploy", "--root", str(root), "--source", str(app), "--build", "false").returncode
    failed = sorted(p.name for p in (root / "releases").iterdir())[-1]
    offered = complete_bash(f"releases {words} --root {root} ")
    assert offered == [failed, live, first]


def test_completion_uses_the_cwd_root_and_tolerates_non_roots(root: Path, tmp_path: Path) -> None:
    """Without --root, completion reads the current directory; in a directory that is not a
    deploy root it offers nothing (and prints no error into the shell)."""
    assert complete_bash("releases rollback --to ", cwd=tmp_path) == []
    assert complete_bash(f"releases rollback --root {root}/missing --to ") == []


COMMANDS = sorted(
    (c.name or (c.callback.__name__ if c.callback else "")).rstrip("_")
    for c in app.registered_commands
)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_summary_and_an_example(command: str) -> None:
    """`releases CMD --help` starts with a one-line summary and shows an example invocation."""
    runner = CliRunner()
    result = runner.invoke(app, [command, "--help"], prog_name="releases", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert re.search(rf"Example: releases {command}\b", result.output), result.output
    overview = runner.invoke(app, ["--help"], prog_name="releases", env={"COLUMNS": "200"})
    assert re.search(rf"^\W*{command}\s+\w", overview.output, re.M), f"{command}: no summary"


def test_switch_completes_the_staged_release(cli: Cli, root: Path, app: Path) -> None:
    """`switch <TAB>` offers release ids too: a staged release is first (the newest)."""
    deploy_ok(cli, root, app)
    staged = cli("stage", "--root", str(root), "--source", str(app))
    assert staged.returncode == 0, staged.stderr
    offered = complete_bash(f"releases switch --root {root} ")
    assert offered[:1] == [staged.stdout.strip()]
