"""Nothing from a release, an artifact or a message reaches the operator's terminal raw.

Hostile text is planted in every field a person can see: a commit's subject and author (a real
git repository), `-m` of deploy, pin and freeze, a file name in a release (`diff`), the deploy
root's own path, an artifact's manifest, a build's output. Every command's stdout and stderr
must then hold no control character but line breaks and tabs (no ESC, CR, BEL, C1, bidi
override), while `--json` gives back every planted string exactly.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from gitrepos import GIT_ENV, commit, git, init_repo
from helpers import REPO, Cli, cli_env, current_id, on_a_terminal
from tarbytes import rewrite

# An OSC 52 clipboard write, a colour, CR, backspace, a C1 CSI, a bidi override, a line break.
HOSTILE = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[31mred\r\x08\x9b2J\u202eevil\nfake: ok"
ONE_LINE = HOSTILE.replace("\n", " ")  # git keeps a subject and an author on one line
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def raw_controls(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The control characters (line breaks and tabs aside) in a command's stdout and stderr."""
    return UNSAFE.findall(result.stdout + result.stderr)


def check_all(cli: Cli, root: Path, *commands: tuple[str, ...]) -> None:
    for words in commands:
        result = cli(*words, "--root", str(root))
        assert not raw_controls(result), (words, result.stdout, result.stderr)
        assert "\nfake: ok" not in result.stdout + result.stderr, words


def test_hostile_git_and_messages_are_escaped_everywhere_and_exact_in_json(
    cli: Cli, tmp_path: Path
) -> None:
    upstream = init_repo(tmp_path / "upstream")
    env = {**GIT_ENV, "GIT_AUTHOR_NAME": f"Eve {ONE_LINE}"}
    first_sha = commit(upstream, {"index.html": "v1\n"}, "first")
    (upstream / f"new{HOSTILE}.txt").write_text("x\n")
    (upstream / "build.sh").write_text(f"printf '%s\\n' '{HOSTILE}'\n")
    git(upstream, "add", "-A")
    subprocess.run(
        ["git", "commit", "-q", "-m", f"Fix {ONE_LINE}"], cwd=upstream, env=env, check=True
    )
    root = tmp_path / f"root{HOSTILE}"
    root.mkdir()
    check_all(cli, root, ("init",))
    first = cli("deploy", "--root", str(root), "--repo", str(upstream), "--ref", first_sha)
    assert first.returncode == 0, first.stderr
    old = current_id(root)
    deployed = cli(
        "deploy", "--root", str(root), "--repo", str(upstream), "-m", HOSTILE,
        "--build", "sh build.sh",
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr
    assert not raw_controls(deployed), deployed.stdout + deployed.stderr
    lines = (deployed.stdout + deployed.stderr).splitlines()
    assert not [line for line in lines if line.startswith("fake: ok/")]  # the root in progress
    assert "\\x1b]52;c;" in deployed.stdout  # the build's output, shown escaped
    new = current_id(root)
    check_all(cli, root, ("pin", old, "-m", HOSTILE), ("freeze", "-m", HOSTILE))

    check_all(
        cli, root, ("list",), ("status",), ("history",), ("history", "--all"), ("doctor",),
        ("diff", old, new), ("prune", "--dry-run"), ("deploy", "--repo", str(upstream)),
        ("rollback", "--to", HOSTILE),
    )  # fmt: skip
    shown = cli("status", "--root", str(root)).stdout
    assert (
        "message: \\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[31mred\\r\\x08\\x9b2J\\u202eevil\\nfake: ok"
        in shown
    )

    listed = json.loads(cli("list", "--json", "--root", str(root)).stdout)
    by_id = {r["id"]: r for r in listed["releases"]}
    assert by_id[new]["message"] == HOSTILE
    assert by_id[new]["subject"] == f"Fix {ONE_LINE}"
    assert by_id[old]["pin_reason"] == HOSTILE
    assert listed["root"] == str(root)
    history = json.loads(cli("history", "--json", "--all", "--root", str(root)).stdout)
    assert HOSTILE in [e.get("message") for e in history["events"]]
    status = json.loads(cli("status", "--json", "--root", str(root)).stdout)
    assert status["frozen"]["message"] == HOSTILE
    diff = json.loads(cli("diff", old, new, "--json", "--root", str(root)).stdout)
    assert f"new{HOSTILE}.txt" in diff["added"]
    check_all(cli, root, ("unfreeze",), ("pin", old, "-m", HOSTILE))


def test_hostile_artifact_manifest_is_escaped_in_list_and_status(
    cli: Cli, app: Path, tmp_path: Path
) -> None:
    packed = tmp_path / "app.artifact"
    assert cli("pack", "--source", str(app), "-o", str(packed)).returncode == 0
    hostile = tmp_path / "hostile.artifact"
    rewrite(packed, hostile, built_on=HOSTILE, app=HOSTILE)
    root = tmp_path / "root"
    root.mkdir()
    assert cli("init", "--root", str(root)).returncode == 0
    deployed = cli("deploy", "--root", str(root), "--artifact", str(hostile))
    assert deployed.returncode == 0, deployed.stderr
    assert not raw_controls(deployed)
    check_all(cli, root, ("list",), ("status",), ("history",), ("doctor",))
    listed = json.loads(cli("list", "--json", "--root", str(root)).stdout)
    assert listed["releases"][0]["artifact"]["built_on"] == HOSTILE


def in_a_terminal(argv: list[str], env: dict[str, str]) -> bytes:
    """What a real `releases ARGV` writes to a terminal (a pty: stdout and stderr)."""
    return on_a_terminal(*argv, env=env, cwd=REPO)[1]


def test_a_terminal_gets_colours_but_no_other_escape_from_build_output(
    cli: Cli, app: Path, tmp_path: Path
) -> None:
    """Live build output and `releases logs` on a real terminal (a pty): the build's colours
    pass, its OSC 52 clipboard write, CR, C1 and bidi override arrive escaped."""
    (app / "build.sh").write_text(f"printf '%s\\n' '{HOSTILE}'\n")
    root = tmp_path / "root"
    root.mkdir()
    assert cli("init", "--root", str(root)).returncode == 0
    env = {**cli_env(None), "TERM": "xterm"}
    argv = ["deploy", "--root", str(root), "--source", str(app), "--build", "sh build.sh"]
    for seen in (in_a_terminal(argv, env), in_a_terminal(["logs", "--root", str(root)], env)):
        text = seen.decode()
        ours = re.sub(
            r"\x1b\[[0-9;]*[mK]|\r\n|\r\x1b\[K", "", text
        )  # colours, redraws, the pty's CRLF
        assert not UNSAFE.findall(ours), text
        assert "\\x1b]52;c;cm0gLXJmIH4=\\x07" in text
        assert "\x1b[31mred" in text  # the build's own colour kept
