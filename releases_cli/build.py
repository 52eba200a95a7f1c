"""Run shell commands inside a release: output streamed to the terminal and saved to a log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
    (npm spawns grandchildren), not just the shell.
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
        try:
            _pump(proc.stdout, log, stream)
            return proc.wait(timeout=timeout)
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            if proc.stdout is not None:
                proc.stdout.close()


def _pump(pipe: IO[bytes] | None, log: IO[bytes], stream: TextIO) -> None:
    if pipe is None:
        return
    for chunk in iter(pipe.readline, b""):
        log.write(chunk)
        log.flush()
        stream.write(chunk.decode(errors="replace"))
        stream.flush()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
