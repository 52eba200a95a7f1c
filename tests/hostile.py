"""Helpers for tests with hostile trees: a directory outside the deploy root that nothing may
touch, a snapshot that never follows links or opens FIFOs, and a guard against blocking."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Hung(Exception):
    """A call blocked (a FIFO opened for reading without O_NONBLOCK would)."""


@contextmanager
def no_hang(seconds: int = 30) -> Iterator[None]:
    """Turn a call that blocks forever into a test failure instead of a stuck test run (a
    guard, not a timing assertion: nothing here should take more than a fraction of it)."""

    def expire(_signum: int, _frame: object) -> None:
        raise Hung(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def make_outside(path: Path) -> Path:
    """A directory outside the release: a secret file, a subdirectory, a FIFO."""
    (path / "dir").mkdir(parents=True)
    (path / "secret.txt").write_text("secret\n")
    (path / "dir" / "x").write_text("outside x\n")
    os.mkfifo(path / "fifo")
    return path


def snapshot(path: Path) -> dict[str, str]:
    """Every entry under `path` (itself included) with kind, mode, mtime and, for regular
    files, content; links by target. Never follows a link, never opens a FIFO: equal before
    and after proves nothing there was read-modified, written, created or deleted."""
    state: dict[str, str] = {}
    for top, dirs, files in os.walk(path):
        for name in [*dirs, *files, *([""] if top == str(path) else [])]:
            full = os.path.join(top, name) if name else top
            st = os.lstat(full)
            rel = os.path.relpath(full, path)
            kind = stat.S_IFMT(st.st_mode)
            what = f"{kind:o}:{st.st_mode:o}:{st.st_mtime_ns}"
            if stat.S_ISLNK(st.st_mode):
                what += ":" + os.readlink(full)
            elif stat.S_ISREG(st.st_mode):
                what += ":" + Path(full).read_bytes().hex()
            state[rel] = what
    return state


def run_limited(
    argv: list[str], env: dict[str, str], memory: int = 1 << 30, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command with its address space capped at `memory` bytes: a read without a size
    cap (of /dev/zero, or a sparse terabyte) fails it instead of eating the machine's memory;
    `timeout` turns a blocked read into a failure instead of a stuck test run."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=limit,
        check=False,
    )  # fmt: skip
