"""The fast path for rollback/list/status: same results as typer, declines anything unusual,
and keeps heavy modules out of the commands people wait on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Cli, current_id, deploy_ok, run_cli

from releases_cli import cli as cli_mod
from releases_cli import fastpath

TYPER = {"RELEASES_NO_FAST_PATH": "1"}


def _command(name: str) -> Callable[..., Any]:
    return fastpath.find_command(cli_mod.app, name)


def _masked(text: str) -> str:
    """Output with the parts that change from run to run (timings, ages) blanked out."""
    text = re.sub(r"in \d+ms", "in Nms", text)
    return re.sub(r'"age_seconds": \d+', '"age_seconds": N', text)


@pytest.fixture
def two_releases(cli: Cli, root: Path, app: Path) -> tuple[Path, str, str]:
    first = deploy_ok(cli, root, app)
    second = deploy_ok(cli, root, app)
    return root, first, second


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--json"],
        ["status"],
        ["status", "--json"],
        ["list", "--json", "--root={root}"],
        ["status", "--root", "{root}", "--json"],
    ],
)
def test_read_commands_print_what_typer_prints(
    two_releases: tuple[Path, str, str], args: list[str]
) -> None:
    """list/status give the same stdout, stderr and exit code with and without the fast path,
    with the root from --root, --root=, or $RELEASES_ROOT."""
    root = two_releases[0]
    argv = [a.format(root=root) for a in args]
    env = {} if any("{root}" in a for a in args) else {"RELEASES_ROOT": str(root)}
    fast = run_cli(*argv, env=env)
    slow = run_cli(*argv, env={**env, **TYPER})
    assert fast.returncode == slow.returncode == 0, fast.stderr + slow.stderr
    assert _masked(fast.stdout) == _masked(slow.stdout)
    assert fast.stderr == slow.stderr


def test_rollback_does_what_typer_does(two_releases: tuple[Path, str, str], tmp_path: Path) -> None:
    """The same rollback on two copies of a root, with and without the fast path: same output,
    same exit code, same release current afterwards; and the same for a refused rollback."""
    root, first, _second = two_releases
    twin = tmp_path / "twin"
    shutil.copytree(root, twin, symlinks=True)
    for args in (["--to", first], ["--to", first], ["--to", "../etc"]):
        fast = run_cli("rollback", "--root", str(root), *args)
        slow = run_cli("rollback", "--root", str(twin), *args, env=TYPER)
        assert fast.returncode == slow.returncode
        assert _masked(fast.stdout).replace(str(root), "R") == _masked(slow.stdout).replace(
            str(twin), "R"
        )
        assert fast.stderr.replace(str(root), "R") == slow.stderr.replace(str(twin), "R")
        assert current_id(root) == current_id(twin)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rollback", "--wait", "-1"], "Invalid value for '--wait'"),
        (["rollback", "--wait", "soon"], "Invalid value for '--wait'"),
        (["list", "--bogus"], "No such option"),
        (["status", "extra"], "Got unexpected extra argument"),
        (["rollback", "--to"], "requires an argument"),
    ],
)
def test_bad_arguments_get_typers_usage_error(
    cli: Cli, root: Path, args: list[str], message: str
) -> None:
    """Arguments the fast path declines reach typer, which reports them (exit 2) as before."""
    result = cli(*args, "--root", str(root)) if args[-1] != "--to" else cli(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_help_still_comes_from_typer(cli: Cli) -> None:
    """--help is never handled by the fast path: typer prints the command's help."""
    result = cli("rollback", "--help")
    assert result.returncode == 0
    assert "--to" in result.stdout and "Switch `current` back" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--root"],
        ["--root", "--json"],
        ["--json=1"],
        ["--json", "--json"],
        ["-r", "x"],
        ["positional"],
        ["--", "--json"],
    ],
)
def test_parse_declines_what_it_cannot_match_exactly(args: list[str]) -> None:
    """Anything not a plain, single use of a declared option is left to typer."""
    with pytest.raises(fastpath.Declined):
        fastpath.parse(_command("list"), args)


def test_parse_reads_the_typer_declarations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values come out typed as typer would pass them, defaults and the envvar included."""
    monkeypatch.delenv("RELEASES_ROOT", raising=False)
    rollback = _command("rollback")
    defaults = fastpath.parse(rollback, [])
    assert {k: defaults[k] for k in ("root", "to", "wait")} == {"root": None, "to": None, "wait": 0}
    parsed = fastpath.parse(rollback, ["--wait=2.5", "--to", "20261126T093000Z", "--root", "r"])
    assert {k: parsed[k] for k in ("root", "to", "wait")} == {
        "root": Path("r"),
        "to": "20261126T093000Z",
        "wait": 2.5,
    }
    monkeypatch.setenv("RELEASES_ROOT", "/srv/shop")
    assert fastpath.parse(_command("list"), ["--json"]) == {
        "root": Path("/srv/shop"),
        "as_json": True,
    }


def test_repeatable_build_option_keeps_its_order() -> None:
    """deploy's repeatable --build collects every value in order; omitted, it stays None."""
    deploy = _command("deploy")
    parsed = fastpath.parse(deploy, ["--build", "npm ci", "--source=app", "--build=npx next build"])
    assert parsed["build"] == ["npm ci", "npx next build"]
    assert parsed["source"] == Path("app")
    assert fastpath.parse(deploy, ["--keep", "2"])["build"] is None
    with pytest.raises(fastpath.Declined):
        fastpath.parse(deploy, ["--keep", "0"])  # below min=1: typer's error


def test_deploy_does_what_typer_does(cli: Cli, root: Path, app: Path, tmp_path: Path) -> None:
    """The same deploys (one good, one failing build) into two roots, with and without the fast
    path: same exit codes, same messages (ids and timings aside), same files live."""
    twin = tmp_path / "twin"
    twin.mkdir()
    for args in (["--build", "echo built > out.txt"], ["--build", "true", "--build", "false"]):
        fast = run_cli("deploy", "--root", str(root), "--source", str(app), *args)
        slow = run_cli("deploy", "--root", str(twin), "--source", str(app), *args, env=TYPER)
        assert fast.returncode == slow.returncode
        strip = re.compile(r"\d{8}T\d{6}Z(-\d+)?|in [\d.]+s|/\S*/(root|twin)")
        assert strip.sub("X", fast.stdout) == strip.sub("X", slow.stdout)
        assert strip.sub("X", fast.stderr) == strip.sub("X", slow.stderr)
    assert (root / "current" / "out.txt").read_text() == (twin / "current" / "out.txt").read_text()


def test_only_the_waited_on_commands_take_the_fast_path() -> None:
    """prune, init and unknown commands always go through typer."""
    assert fastpath.run(cli_mod.app, ["prune"]) is False
    assert fastpath.run(cli_mod.app, ["init"]) is False
    assert fastpath.run(cli_mod.app, []) is False


_PROBE = """
import sys
sys.argv = ["releases", *sys.argv[1:]]
from releases_cli.cli import main
try:
    main()
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"pydantic", "git", "rich", "humanize"})
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["rollback"], set()),
        (["status"], set()),
        (["list", "--json"], set()),
        (["list"], {"humanize"}),
    ],
)
def test_waited_on_commands_do_not_import_heavy_modules(
    two_releases: tuple[Path, str, str], args: list[str], allowed: set[str]
) -> None:
    """rollback, status and list load neither pydantic, gitpython nor rich (only the table of
    `list` loads humanize), measured in the real process after the command ran."""
    root = two_releases[0]
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args, "--root", str(root)],
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"HEAVY=(.*)", result.stderr)
    assert found is not None, result.stderr
    assert set(filter(None, found.group(1).split(","))) == allowed
    if args == ["rollback"]:
        assert "rolled back to" in result.stdout


def test_list_json_shape_unchanged_by_fast_path(two_releases: tuple[Path, str, str]) -> None:
    """The fast path's `list --json` is valid JSON naming both releases, newest first."""
    root, first, second = two_releases
    payload = json.loads(run_cli("list", "--json", "--root", str(root)).stdout)
    assert [r["id"] for r in payload["releases"]] == [second, first]
