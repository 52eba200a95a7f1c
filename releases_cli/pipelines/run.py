"""Run shell commands inside a release: output streamed to the terminal and saved to a log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TextIO


def run_logged(
    command: str,
    cwd: Path,
    log_path: Path,
    env: Mapping[str, str],
    echo: TextIO | None = None,
    timeout: float | None = None,
) -> int:
    """Run `command` with /bin/sh in `cwd`, teeing its output to `echo` and `log_path`.

    The child gets its own process group so an interrupt or timeout stops the whole build
    (npm spawns grandchildren), not just the shell. Output is read on a thread so `timeout`
    bounds a command that hangs silently, and a background process that keeps the pipe open
    after the command exited (a server started with `&`) does not hold us up for more than
    `_DRAIN_SECONDS`. Raises subprocess.TimeoutExpired after killing the group.
    """
    stream = sys.stdout if echo is None else echo
    with open(log_path, "ab") as log:
        log.write(f"$ {command}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env={**os.environ, **env},
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
    try:
        for chunk in iter(pipe.readline, b""):
            log.write(chunk)
            log.flush()
            stream.write(chunk.decode(errors="replace"))
            stream.flush()
    except ValueError:
        return  # the caller gave up draining and closed the log: drop late background output


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
