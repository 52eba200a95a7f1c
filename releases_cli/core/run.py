"""Run shell commands inside a release: output streamed to the terminal and saved to a log."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TextIO

from releases_cli.core.layout import DeployRoot
from releases_cli.core.statedir import open_append


def release_env(root: DeployRoot, release_id: str, previous: str | None) -> dict[str, str]:
    """Variables every build command, hook and restart command sees."""
    return {
        "RELEASE_ID": release_id,
        "RELEASE_PATH": str(root.release(release_id)),
        "PREVIOUS_RELEASE_ID": previous or "",
        "DEPLOY_ROOT": str(root.path),
    }


def run_logged(
    command: str,
    cwd: Path,
    log_path: Path,
    env: Mapping[str, str],
    echo: TextIO | None = None,
    timeout: float | None = None,
    prefix: Sequence[str] = (),
    inherit: bool = True,
) -> int:
    """Run `command` with /bin/sh in `cwd`, teeing its output to `echo` and `log_path`; its
    environment is ours plus `env`, or with `inherit` False, `env` alone; `prefix` is argv that
    execs the shell (nice, ionice: pipelines/priority.py).

    The child gets its own process group so an interrupt or timeout stops the whole build
    (npm spawns grandchildren), not just the shell. Output is read on a thread so `timeout`
    bounds a command that hangs silently, and a background process that keeps the pipe open
    after the command exited (a server started with `&`) does not hold us up for more than
    `_DRAIN_SECONDS`. Raises subprocess.TimeoutExpired after killing the group (`timeout` None:
    no limit).
    """
    stream = sys.stdout if echo is None else echo
    # Unbuffered: a write that fails (a full disk) leaves nothing behind for close() to retry.
    # The log is per-release state: a link planted at its name is replaced, never written through.
    with os.fdopen(open_append(log_path), "ab", buffering=0) as log:
        _append(log, f"$ {command}\n".encode())
        proc = subprocess.Popen(
            [*prefix, "/bin/sh", "-c", command],
            cwd=cwd,
            env={**os.environ, **env} if inherit else dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        pump = threading.Thread(target=_pump, args=(proc.stdout, log, stream), daemon=True)
        pump.start()
        try:
            code = proc.wait(timeout=timeout)
            pump.join(_DRAIN_SECONDS)
            return code
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            # Closing a pipe another thread is blocked reading would deadlock on the buffer's
            # lock; a still-running reader ends by itself when the last writer exits.
            if proc.stdout is not None and not pump.is_alive():
                proc.stdout.close()


_DRAIN_SECONDS = 2.0


def _pump(pipe: IO[bytes] | None, log: IO[bytes], stream: TextIO) -> None:
    if pipe is None:
        return
    logging = True
    try:
        for chunk in iter(pipe.readline, b""):
            logging = logging and _append(log, chunk)
            stream.write(chunk.decode(errors="replace"))
            stream.flush()
    except ValueError:
        return  # the caller gave up draining and closed the log: drop late background output


def _append(log: IO[bytes], data: bytes) -> bool:
    """Append to the log; False when the disk refused (the command runs on, its output still
    reaches the terminal: a full disk must not stall a restart on a pipe nobody reads)."""
    try:
        log.write(data)
    except OSError:
        return False
    return True


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's whole process group, give it _GRACE_SECONDS to go, then SIGKILL
    what is left: a grandchild that ignores SIGTERM (or outlives the shell) must not go on
    building after a timeout or an interrupt."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + _GRACE_SECONDS
    try:
        proc.wait(timeout=_GRACE_SECONDS)
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


_GRACE_SECONDS = 5.0


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Read from /proc because exited ones do not
    count: where init does not reap (some containers), orphans stay zombies, which kill(0)
    would still find."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return False  # no /proc: go straight to SIGKILL
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()  # after the command's name
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False
