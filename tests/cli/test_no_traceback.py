"""No command path prints a traceback: hostile input of every kind (bad config, bad flags,
corrupt state, a full disk, a failing disk, a misbehaving app) across the commands gives one
error line on stderr and an exit code documented in docs/reference.md."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import REPO, Cli, deploy_ok
from mounts import fill, tmpfs

from releases_cli.core.errors import ExitCode

DOC = REPO / "docs" / "reference.md"


def documented_codes() -> dict[int, str]:
    """The exit-code table of docs/reference.md ("Exit codes"): code -> meaning."""
    section = DOC.read_text().split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section, flags=re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def test_every_exit_code_is_documented() -> None:
    """The documented table and ExitCode list the same codes (11, the OS refusing, included);
    1 is the internal error."""
    codes = documented_codes()
    assert set(codes) == {int(code) for code in ExitCode}
    assert "internal error" in codes[ExitCode.FAILURE] and "report" in codes[ExitCode.FAILURE]
    assert "disk full" in codes[ExitCode.SYSTEM]


def test_the_readme_points_at_every_exit_code() -> None:
    """README's one-line pointer to the exit codes names each ExitCode value and the table."""
    pointer = next(
        line for line in (REPO / "README.md").read_text().splitlines() if "Exit codes" in line
    )
    assert "docs/reference.md#exit-codes" in pointer
    named = {int(code) for code in re.findall(r"\b(\d+) ", pointer)}
    assert named == {int(code) for code in ExitCode}, pointer


def _assert_clean(args: tuple[str, ...], result: subprocess.CompletedProcess[str]) -> None:
    """The contract for one run: no traceback anywhere, the code documented, and a failure
    told in exactly one `releases: error:` (or `interrupted:`) line."""
    where = f"{args}: rc={result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout, where
    assert result.returncode in documented_codes(), where
    assert result.returncode != ExitCode.FAILURE, f"an anticipated failure became a bug: {where}"
    if result.returncode in (ExitCode.OK, ExitCode.PROBLEMS_FOUND):
        return
    lines = [x for x in result.stderr.splitlines() if x.startswith("releases: ")]
    assert len(lines) == 1 and lines[0].startswith(("releases: error: ", "releases: inter")), where


@pytest.fixture
def deployed(cli: Cli, root: Path, app: Path) -> Path:
    for _ in range(2):
        deploy_ok(cli, root, app)
    return root


def _ids(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "releases").iterdir())


# Every command, with the arguments it needs (`{app}`, `{id}` filled in per run).
COMMANDS = [
    ("deploy", "--source", "{app}"),
    ("switch", "{id}"),
    ("rollback",),
    ("prune", "--keep", "1"),
    ("list",),
    ("status", "--json"),
    ("history",),
    ("doctor",),
]


def _run_all(cli: Cli, root: Path, app: Path, env: dict[str, str] | None = None) -> None:
    first = _ids(root)[0] if (root / "releases").is_dir() and _ids(root) else "20261126T101500Z"
    for command in COMMANDS:
        args = tuple(a.format(app=app, id=first) for a in command)
        _assert_clean(args, cli(*args, "--root", str(root), env=env))


def _bad_toml(root: Path) -> None:
    (root / "releases.toml").write_text("[[[ not toml")


def _binary_toml(root: Path) -> None:
    (root / "releases.toml").write_bytes(b"\xff\xfe\x00\x01 keep = 3\n")


def _wrong_types(root: Path) -> None:
    (root / "releases.toml").write_text('keep = "many"\n[health]\ntimeout = "soon"\n')


def _garbage_history(root: Path) -> None:
    (root / ".releases" / "history.jsonl").write_bytes(b'\x00\xff{{{\n[1,2]\n"text"\n')


def _history_is_a_directory(root: Path) -> None:
    history = root / ".releases" / "history.jsonl"
    history.unlink()
    history.mkdir()


def _meta_is_a_directory(root: Path) -> None:
    meta = root / ".releases" / "meta" / f"{_ids(root)[0]}.json"
    meta.unlink()
    meta.mkdir()


def _meta_dir_is_a_file(root: Path) -> None:
    meta = root / ".releases" / "meta"
    for entry in meta.iterdir():
        entry.unlink()
    meta.rmdir()
    meta.write_text("not a directory\n")


def _current_is_a_directory(root: Path) -> None:
    (root / "current").unlink()
    (root / "current").mkdir()


def _current_dangles(root: Path) -> None:
    (root / "current").unlink()
    (root / "current").symlink_to("releases/20991231T235959Z")


def _trash_is_a_file(root: Path) -> None:
    trash = root / ".releases" / "trash"
    if trash.is_dir():
        trash.rmdir()
    trash.write_text("not a directory\n")


def _lock_info_is_garbage(root: Path) -> None:
    (root / ".releases" / "lock.info").write_bytes(b"\xff not json")


def _releases_is_a_file(root: Path) -> None:
    releases = root / "releases"
    for entry in releases.iterdir():
        subprocess.run(["rm", "-rf", str(entry)], check=True)
    releases.rmdir()
    releases.write_text("not a directory\n")


DAMAGE: list[Callable[[Path], None]] = [
    _bad_toml,
    _binary_toml,
    _wrong_types,
    _garbage_history,
    _history_is_a_directory,
    _meta_is_a_directory,
    _meta_dir_is_a_file,
    _current_is_a_directory,
    _current_dangles,
    _trash_is_a_file,
    _lock_info_is_garbage,
    _releases_is_a_file,
]


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__.strip("_") for d in DAMAGE])
def test_damaged_config_and_state(
    cli: Cli, deployed: Path, app: Path, damage: Callable[[Path], None]
) -> None:
    """Every command on a root with this damage: no traceback, one line, a documented code."""
    damage(deployed)
    _run_all(cli, deployed, app)


BAD_FLAGS = [
    ("rollback", "--to", "../../etc"),
    ("switch", "not-an-id"),
    ("switch", "20991231T235959Z"),
    ("stage", "--source", "{app}", "--id", "20000101T000000Z"),
    ("deploy", "--source", "/nonexistent/app"),
    ("deploy", "--repo", "ext::sh -c touch% /tmp/pwned"),
    ("deploy", "--repo", "{app}", "--ref", "--upload-pack=touch /tmp/pwned"),
    ("deploy", "--source", "{app}", "--repo", "/x"),
    ("deploy", "--keep", "0", "--source", "{app}"),
    ("prune", "--wait", "-1"),
    ("history", "-n", "zero"),
    ("list", "--no-such-flag"),
]


@pytest.mark.parametrize("args", BAD_FLAGS, ids=[" ".join(a) for a in BAD_FLAGS])
def test_bad_flags(cli: Cli, deployed: Path, app: Path, args: tuple[str, ...]) -> None:
    """Malformed ids, unknown releases, unsafe git input, conflicting or out-of-range flags."""
    filled = tuple(a.format(app=app) for a in args)
    _assert_clean(filled, cli(*filled, "--root", str(deployed)))


@pytest.mark.parametrize("where", ["/nonexistent/root", "/dev/null"])
def test_roots_that_are_not_deploy_roots(cli: Cli, app: Path, where: str) -> None:
    """A root that does not exist, or is a device."""
    _run_all(cli, Path(where), app)


@pytest.mark.parametrize(
    "fault", ["ENOSPC:history.jsonl", "ENOSPC:*.json", "EIO:history.jsonl", "EIO:*.json"]
)
def test_a_disk_refusing_writes(cli: Cli, deployed: Path, app: Path, fault: str) -> None:
    """Every command with the history or the meta files refused by the disk."""
    _run_all(cli, deployed, app, env={"RELEASES_FAULT": fault})


def test_a_full_disk(cli: Cli, tmp_path: Path, app: Path) -> None:
    """Every command on a real, 100 % full filesystem."""
    with tmpfs(tmp_path / "full", "4m") as root:
        for _ in range(2):
            deploy_ok(cli, root, app)
        fill(root)
        _run_all(cli, root, app)


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """An HTTP port that answers garbage, resets, or nothing, in turn."""
    server = socket.create_server(("127.0.0.1", 0))
    answers = [b"not http at all\r\n\r\n", b"", b"HTTP/1.1 2"]

    def serve() -> None:
        turn = 0
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(answers[turn % len(answers)])
            turn += 1

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/"
    server.close()


@pytest.mark.parametrize(
    "restart", ["true", "exit 3", "kill -9 $$", "echo $(head -c 100000 /dev/urandom)"]
)
def test_misbehaving_restart_and_health(
    cli: Cli, deployed: Path, app: Path, garbage_server: str, restart: str
) -> None:
    """Restart commands that fail, die of a signal or print binary junk, with a health URL
    that answers garbage: deploy, switch and rollback end in one line, exit 9."""
    (deployed / "releases.toml").write_text(
        f"[restart]\ncommand = {json.dumps(restart)}\n"
        f"[health]\nurl = {json.dumps(garbage_server)}\ntimeout = 0.5\ninterval = 0.1\n"
    )
    for args in (("deploy", "--source", str(app)), ("rollback",), ("switch", _ids(deployed)[0])):
        result = cli(*args, "--root", str(deployed))
        _assert_clean(args, result)
        assert result.returncode in (ExitCode.HEALTH_FAILED, ExitCode.INVALID), result.stderr


def test_a_bug_is_one_line_with_the_traceback_saved(root: Path, tmp_path: Path) -> None:
    """An exception nobody anticipated (here: a bug planted in the process) is exit 1 and one
    line saying it is an internal error to report and where its traceback was saved; with
    RELEASES_DEBUG=1 the traceback is printed instead."""
    plant = (
        "import sys; import releases_cli.cli.render as r\n"
        "def boom(*a, **k): raise KeyError('planted bug')\n"
        "r.list_table = boom\n"
        "sys.argv = ['releases', 'list', '--root', sys.argv[1]]\n"
        "from releases_cli.cli.app import main; main()\n"
    )
    root.joinpath("releases").mkdir()
    root.joinpath(".releases").mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)}
    run = [sys.executable, "-c", plant, str(root)]
    result = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("releases: error: internal error (please report it): KeyError")
    saved = Path(re.findall(r"traceback saved in (\S+)", line)[0])
    assert saved.parent == tmp_path and "planted bug" in saved.read_text()
    debug = subprocess.run(
        run, env={**env, "RELEASES_DEBUG": "1"}, capture_output=True, text=True, check=False
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr


@pytest.mark.parametrize("closed", [">&-", "2>&-"])
def test_a_closed_stdout_or_stderr_is_no_internal_error(deployed: Path, closed: str) -> None:
    """A reading command run with stdout or stderr closed by its caller (a cron line, a
    supervisor) writes nothing there and exits 0, as any program would (real processes: the
    shell closes the descriptor before Python starts)."""
    for command in ("list", "status", "history"):
        line = f'exec "$0" -m releases_cli {command} --root "$1" {closed}'
        done = subprocess.run(
            ["/bin/sh", "-c", line, sys.executable, str(deployed)],
            capture_output=closed != ">&-",
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (command, closed, done.stderr)
