"""What a person sees during a deploy: live stage lines on a terminal, plain lines elsewhere."""

from __future__ import annotations

import os
import re
from http.server import ThreadingHTTPServer
from pathlib import Path

from helpers import REPO, Cli, on_a_terminal

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
SGR = re.compile(r"\x1b\[[0-9;]*m")  # colour codes
TOOK = r"(?:\d+ms|\d+(?:\.\d)?s|\d+m\d\ds)"  # summary.duration: 180ms, 4.2s, 42s, 3m05s
# The build prints its own colour codes: a pipe must not get them, a terminal may.
BUILD = "echo build-line-one; printf '\\033[31mred-text\\033[0m\\n'; sleep 0.3; echo build-line-two"


def run_in_pty(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str]:
    """Run `releases ARGS` with stdout and stderr on a real pseudo-terminal; return the exit
    code and everything the terminal received."""
    base = {k: v for k, v in os.environ.items() if k not in ("RELEASES_ROOT", "NO_COLOR")}
    full_env = {**base, "PYTHONPATH": str(REPO), "TERM": "xterm-256color", **(env or {})}
    code, screen = on_a_terminal(*args, env=full_env, timeout=timeout)
    return code, screen.decode(errors="replace")


def test_terminal_shows_live_stage_lines_with_elapsed_time_and_build_output(
    root: Path, app: Path
) -> None:
    """On a terminal every stage (copy, build, switch, prune) gets a live, redrawn line that
    ends as a ✓ line with its elapsed time; the build's output appears beneath the build's
    header; the summary line comes last."""
    code, screen = run_in_pty("deploy", "--root", str(root), "--source", str(app), "--build", BUILD)
    assert code == 0, screen
    assert "\r\x1b[K" in screen, "the live line is redrawn in place"
    assert SGR.search(screen), "colours on a terminal without NO_COLOR"
    plain = SGR.sub("", screen)
    for stage in ("copy", "build", "switch", "prune"):
        assert re.search(rf"✓ {stage}\b.*{TOOK}", plain), f"no finished line for {stage}"
    header = plain.index("▸ build  $ echo build-line-one")
    one = plain.index("  build-line-one\r\n")
    two = plain.index("  build-line-two\r\n")
    assert header < one < two < plain.index("✓ build"), "output streamed beneath its header"
    last = plain.strip().splitlines()[-1]
    assert last.startswith("deployed ") and "; previous none; pruned 0" in last


def test_no_color_keeps_live_lines_but_drops_colours(root: Path, app: Path) -> None:
    """NO_COLOR=1 on a terminal: still live stage lines, but not a single colour code of ours
    (the build's own red text is passed through as the build wrote it)."""
    code, screen = run_in_pty(
        "deploy",
        "--root",
        str(root),
        "--source",
        str(app),
        "--build",
        "echo plain",
        env={"NO_COLOR": "1"},
    )
    assert code == 0, screen
    assert "\r\x1b[K" in screen and "✓ build" in screen
    assert not SGR.search(screen), repr(screen)


def test_failed_stage_is_marked_on_the_terminal(root: Path, app: Path) -> None:
    """A failing build ends its stage line with ✗ and the error, and no switch stage runs."""
    code, screen = run_in_pty(
        "deploy", "--root", str(root), "--source", str(app), "--build", "echo oops; exit 3"
    )
    assert code == 6
    plain = SGR.sub("", screen)
    assert "✗ build" in plain and "oops" in plain
    assert "switch" not in plain.split("✗ build")[1].split("releases: error")[0]
    assert "releases: error: build command 'echo oops; exit 3' failed" in plain


def test_pipe_gets_timestamped_lines_and_no_escape_codes(cli: Cli, root: Path, app: Path) -> None:
    """Through a pipe (CI, Ansible): one timestamped line per stage start and end, the build
    output verbatim but with escape codes stripped, nothing with an ESC byte anywhere."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    result = cli("deploy", "--root", str(root), "--source", str(app), "--build", BUILD, env=env)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr
    lines = result.stdout.splitlines()
    for stage in ("copy", "build", "switch", "prune"):
        assert any(re.fullmatch(rf"{STAMP} {stage}: ok in {TOOK}.*", line) for line in lines), stage
    assert re.search(rf"^{STAMP} build: \$ echo build-line-one", result.stdout, re.M)
    assert "red-text" in lines and "build-line-two" in lines
    assert lines[-1].startswith("deployed ")


def test_quiet_prints_only_the_summary_line(cli: Cli, root: Path, app: Path) -> None:
    """--quiet: stdout is the one summary line; the build output still goes to the log."""
    result = cli(
        "deploy", "--root", str(root), "--source", str(app), "--build", "echo hidden", "--quiet"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("deployed ")
    assert result.stderr == ""
    (log,) = (root / ".releases" / "logs").iterdir()
    assert "hidden" in log.read_text()


def test_verbose_explains_the_switch_and_the_prune_decisions(
    cli: Cli, root: Path, app: Path
) -> None:
    """--verbose adds the tool's own log messages on stderr: how `current` was switched and
    each prune decision with its reason; --quiet prune prints the summary line alone."""
    for _ in range(2):
        assert cli("deploy", "--root", str(root), "--source", str(app), "-q").returncode == 0
    loud = cli("deploy", "--root", str(root), "--source", str(app), "--verbose")
    assert loud.returncode == 0, loud.stderr
    assert re.search(
        r"^DEBUG: releases_cli.core.current: current -> releases/\S+ \(renamed from",
        loud.stderr,
        re.M,
    )
    assert re.search(r"^DEBUG: releases_cli.core.prune: keep \S+ \(current\)$", loud.stderr, re.M)
    plain = cli("deploy", "--root", str(root), "--source", str(app))
    assert "DEBUG" not in plain.stderr
    normal = cli("prune", "--root", str(root), "--keep", "1", "--dry-run")
    assert re.search(r"^kept \S+ \(current\)$", normal.stdout, re.M)
    quiet = cli("prune", "--root", str(root), "--keep", "1", "--quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.count("\n") == 1 and quiet.stdout.startswith("pruned ")


def test_link_shared_is_a_stage_of_its_own(cli: Cli, root: Path, app: Path) -> None:
    """With [shared] entries configured, linking them is reported as the `link shared` stage,
    between the copy and the build, naming what was linked."""
    assert cli("init", "--root", str(root)).returncode == 0
    (root / "releases.toml").write_text('[shared]\nfiles = [".env.production"]\n')
    (root / "shared" / ".env.production").write_text("A=1\n")
    result = cli("deploy", "--root", str(root), "--source", str(app), "--build", "true")
    assert result.returncode == 0, result.stderr
    stages = [m[1] for m in re.finditer(rf"^{STAMP} ([a-z ]+): ok in", result.stdout, re.M)]
    assert stages == ["copy", "link shared", "build", "switch", "prune"]
    assert re.search(
        rf"^{STAMP} link shared: ok in {TOOK} \(\.env\.production\)$", result.stdout, re.M
    )


def _stages(stdout: str) -> list[tuple[str, str]]:
    """(stage, outcome) of every finished-stage line of plain output, in order."""
    found = re.finditer(rf"^{STAMP} ([a-z_ ]+): (ok|FAILED) in", stdout, re.M)
    return [(m[1], m[2]) for m in found]


def test_restart_and_health_check_are_stages_with_the_restart_output_beneath(
    cli: Cli, root: Path, app: Path, web: ThreadingHTTPServer
) -> None:
    """With a restart command and a health URL, the deploy reports copy, build, switch,
    restart, health check, prune in that order, the restart's own output inside its stage."""
    url = f"http://127.0.0.1:{web.server_address[1]}/"
    result = cli(
        "deploy", "--root", str(root), "--source", str(app), "--build", "true",
        "--restart", "echo restarted-the-app", "--health-url", url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [name for name, _ in _stages(result.stdout)] == [
        "copy", "build", "switch", "restart", "health check", "prune",
    ]  # fmt: skip
    restart_start = result.stdout.index("restart: $ echo restarted-the-app")
    restart_end = result.stdout.index("restart: ok in")
    assert restart_start < result.stdout.index("\nrestarted-the-app\n") < restart_end


def test_failed_health_check_shows_the_switch_back(
    cli: Cli, root: Path, app: Path, web: ThreadingHTTPServer
) -> None:
    """An unhealthy new release: its health check stage FAILED, then a switch stage back to the
    previous release, whose health check passes; the command exits 9."""
    url = f"http://127.0.0.1:{web.server_address[1]}/"
    (root / "releases.toml").write_text(f'[health]\nurl = "{url}"\ntimeout = 1\ninterval = 0.1\n')
    assert cli("deploy", "--root", str(root), "--source", str(app)).returncode == 0
    web.status = 500  # type: ignore[attr-defined]
    result = cli("deploy", "--root", str(root), "--source", str(app), "--build", "true")
    assert result.returncode == 9, result.stderr
    assert _stages(result.stdout)[-3:] == [
        ("health check", "FAILED"), ("switch", "ok"), ("health check", "FAILED"),
    ]  # fmt: skip
    assert re.search(rf"^{STAMP} switch: back: current -> releases/", result.stdout, re.M)


def test_git_deploy_reports_fetch_and_export_and_names_the_commit(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    """From git: a `fetch` stage that ends naming the resolved commit, then `export`; the
    summary line carries the short sha and the subject, and so does `history`."""
    from gitrepos import commit, init_repo

    repo = init_repo(tmp_path / "upstream")
    sha = commit(repo, {"index.html": "v1\n"}, "Fix cart")
    result = cli("deploy", "--root", str(root), "--repo", str(repo))
    assert result.returncode == 0, result.stderr
    assert [name for name, _ in _stages(result.stdout)][:2] == ["fetch", "export"]
    assert re.search(rf"^{STAMP} fetch: ok in .* is {sha[:12]} 'Fix cart'\)$", result.stdout, re.M)
    last = result.stdout.splitlines()[-1]
    assert re.fullmatch(
        rf'deployed \S+ \({sha[:7]} "Fix cart"\) in \S+; previous none; pruned 0', last
    )
    table = cli("history", "--root", str(root)).stdout
    assert f'{sha[:7]} "Fix cart"; previous none' in table
