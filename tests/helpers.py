"""What tests share: the CLI runner (in process, or a real process run or started), an argument
builder, the deploy wrapper, and readers of a deploy root (current, history, meta, list --json,
its whole tree).

`run_cli` runs `releases ARGS` in this process (tests/inprocess.py: the argv, environment, cwd,
stdio, signal dispositions and package module state of a new process; its exit status and
separate stdout/stderr) unless the call needs a real process: a fault point (SIGKILLs the
process), an explicit timeout (must be able to kill it), interpreter start-up variables
(PYTHON*, the locale), a call off the main thread, `real=True` (the `real_process` marker), or
RELEASES_TESTS_SUBPROCESS=1 in the environment (every call real, to check the shortcut against
the real thing).
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from inprocess import REPO, run_in_process

__all__ = [
    "REPO",
    "Cli",
    "argv",
    "current_id",
    "deploy_ok",
    "history_of",
    "initialised",
    "later_id",
    "list_json",
    "meta_of",
    "needs_real_process",
    "on_a_terminal",
    "quiet",
    "releases_argv",
    "run_cli",
    "start_cli",
    "tree_hashes",
    "tree_state",
    "write_launcher",
]

Cli = Callable[..., subprocess.CompletedProcess[str]]

DEFAULT_TIMEOUT = 120.0  # seconds; a safety net, in process as well
ALL_REAL = "RELEASES_TESTS_SUBPROCESS"


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    real: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`releases ARGS` from this checkout with NO_COLOR=1, RELEASES_ROOT unset, then `env`;
    in process or in a real one (see the module docstring), with the same result either way."""
    full_env = cli_env(env)
    if real or needs_real_process(full_env, env, timeout):
        return run_real(args, cwd=cwd, env=full_env, timeout=timeout or DEFAULT_TIMEOUT)
    return run_in_process(args, cwd=cwd, env=full_env, timeout=DEFAULT_TIMEOUT)


def cli_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """This environment without RELEASES_ROOT (or our own switch), PYTHONPATH on this checkout,
    NO_COLOR=1, then `env`."""
    base = {k: v for k, v in os.environ.items() if k not in ("RELEASES_ROOT", ALL_REAL)}
    return {**base, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **(env or {})}


def needs_real_process(
    full_env: Mapping[str, str], env: Mapping[str, str] | None, timeout: float | None
) -> str | None:
    """Why this call must be a real process, or None when running it in process is faithful."""
    if os.environ.get(ALL_REAL, "0") not in ("", "0"):
        return f"{ALL_REAL} is set"
    if full_env.get("RELEASES_FAULT"):
        return "a fault point SIGKILLs the process"
    if timeout is not None:
        return "an explicit timeout: only a process can be killed when it runs over"
    start_up = sorted(
        k for k, v in (env or {}).items() if _read_at_start_up(k) and os.environ.get(k) != v
    )
    if start_up:
        return f"interpreter start-up variables: {', '.join(start_up)}"
    if threading.current_thread() is not threading.main_thread():
        return "called off the main thread (argv, cwd, environment and fds are per process)"
    return None


def _read_at_start_up(name: str) -> bool:
    """Interpreter options and the locale (it picks the stdio encoding): read once, at start-up.
    PYTHONPATH is set alike for both ways."""
    return (name.startswith("PYTHON") and name != "PYTHONPATH") or name in _LOCALE


_LOCALE = ("LANG", "LC_ALL", "LC_CTYPE")


def run_real(
    args: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str],
    timeout: float,
    program: Sequence[str] = ("-m", "releases_cli"),
) -> subprocess.CompletedProcess[str]:
    """`python -m releases_cli ARGS` (or `python PROGRAM ARGS`) in a real subprocess, run to
    its end."""
    return subprocess.run(
        [sys.executable, *program, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def releases_argv(*args: str) -> list[str]:
    """The command line of a real `releases ARGS` from this checkout (this interpreter)."""
    return [sys.executable, "-m", "releases_cli", *args]


def start_cli(
    *args: str, env: Mapping[str, str] | None = None, **popen: Any
) -> subprocess.Popen[Any]:
    """`releases ARGS` as a real process the test feeds, reads or signals while it runs, in
    cli_env(env); stdio, cwd and the rest are Popen's keywords."""
    return subprocess.Popen(releases_argv(*args), env=cli_env(env), **popen)


def on_a_terminal(
    *args: str,
    env: Mapping[str, str],
    cwd: Path | None = None,
    stderr: bool = True,
    timeout: float = 120,
) -> tuple[int, bytes]:
    """A real `releases ARGS` in environment `env` (all of it) with its stdout, and its stderr
    unless `stderr` is False (then discarded), on a pseudo-terminal: its exit status and all the
    terminal received. Bounded: still running after `timeout` seconds, it is killed and the
    test fails."""
    leader, follower = os.openpty()
    proc = subprocess.Popen(
        releases_argv(*args),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower if stderr else subprocess.DEVNULL,
        env=env,
        cwd=cwd,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the process closed its end
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return code, b"".join(chunks)


def write_launcher(path: Path) -> Path:
    """An executable `path` (its folder made if missing) that runs this checkout's CLI: for
    scripts and playbooks that call `releases` by name from PATH."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m releases_cli "$@"\n'
    )
    path.chmod(0o755)
    return path


Option = str | Path | int | float | bool | Sequence[str | Path] | None


def argv(command: str, *positional: str | Path, **options: Option) -> list[str]:
    """`releases` arguments from keywords: `root=path` gives `--root PATH`, `build=[a, b]` gives
    `--build A --build B`, `json=True` gives `--json`, `dry_run=True` gives `--dry-run`; None and
    False leave the option out. Positional arguments follow the command."""
    words = [command, *map(str, positional)]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            words.append(flag)
        elif isinstance(value, str | Path | int | float):
            words += [flag, str(value)]
        else:
            for item in value:
                words += [flag, str(item)]
    return words


def tree_state(path: Path) -> dict[str, str]:
    """Every entry under `path` with its kind and content (links by target): equal before and
    after a refused command proves the command changed nothing."""
    state: dict[str, str] = {}
    for entry in sorted(path.rglob("*")):
        rel = str(entry.relative_to(path))
        if entry.is_symlink():
            state[rel] = "link:" + os.readlink(entry)
        elif entry.is_dir():
            state[rel] = "dir"
        else:
            state[rel] = "file:" + entry.read_bytes().hex()
    return state


def tree_hashes(path: Path) -> dict[str, str]:
    """Every entry under `path`: file bytes' sha256 + mode, link targets, directories."""
    found: dict[str, str] = {}
    for entry in sorted(path.rglob("*")):
        rel = str(entry.relative_to(path))
        st = entry.lstat()
        if entry.is_symlink():
            found[rel] = "link:" + os.readlink(entry)
        elif entry.is_dir():
            found[rel] = f"dir:{st.st_mode:o}"
        else:
            found[rel] = f"{st.st_mode:o}:" + hashlib.sha256(entry.read_bytes()).hexdigest()
    return found


def initialised(cli: Cli, root: Path) -> Path:
    """`root` made (if missing) and `releases init`-ed."""
    root.mkdir(exist_ok=True)
    assert cli("init", "--root", str(root)).returncode == 0
    return root


def deploy_ok(
    cli: Cli,
    root: Path,
    app: Path,
    *extra: str,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> str:
    """Deploy `app` into `root` and return the new release id (fails the test otherwise)."""
    result = cli(
        "deploy", "--root", str(root), "--source", str(app), *extra, env=env, timeout=timeout
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return current_id(root)


def later_id(hours: float = 1) -> str:
    """A release id `hours` ahead of the clock: newer than any id a deploy in this test makes,
    and within the day ahead that a given id may be (pipelines/newid.py)."""
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc) + timedelta(hours=hours)).strftime("%Y%m%dT%H%M%SZ")


def current_id(root: Path) -> str:
    return os.readlink(root / "current").split("/")[-1]


def sigint_as_from_a_terminal() -> None:
    """`preexec_fn` for a child the test will interrupt or hang up on: SIGINT's and SIGHUP's
    default dispositions, as a terminal gives them, even when this test run was started in the
    background (`cmd &` ignores SIGINT, `nohup` SIGHUP, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def list_json(cli: Cli, root: Path) -> dict[str, Any]:
    """`releases list --json` of `root`, parsed (fails the test unless it exits 0)."""
    result = cli("list", "--root", str(root), "--json")
    assert result.returncode == 0, result.stderr
    listing: dict[str, Any] = json.loads(result.stdout)
    return listing


def quiet(_: str) -> None:
    """A reporter that prints nothing, for library calls that take one."""


def history_of(root: Path, name: str | None = None, *, torn: bool = False) -> list[dict[str, Any]]:
    """The lines of `root`'s .releases/history.jsonl as JSON, those of event `name` only when
    given. Blank lines (padding) are passed over; a line that is not JSON fails the test unless
    `torn` (a process killed mid-append may leave one, which the commands skip)."""
    events = []
    for line in (root / ".releases" / "history.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            if torn:
                continue
            raise
        if name is None or event["event"] == name:
            events.append(event)
    return events


def meta_of(root: Path, release_id: str) -> dict[str, Any]:
    """Release `release_id`'s .releases/meta/<id>.json, as JSON."""
    data = json.loads((root / ".releases" / "meta" / f"{release_id}.json").read_text())
    assert isinstance(data, dict)
    return data


def trash_entries(root: Path) -> list[str]:
    """The names in .releases/trash, sorted (none when it does not exist)."""
    trash = root / ".releases" / "trash"
    return sorted(p.name for p in trash.iterdir()) if trash.exists() else []
