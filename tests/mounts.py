"""Real small filesystems for the full-disk tests: a tmpfs mounted by the test (needs root)."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "4m") at `mountpoint`; skips the test where mounting is not
    allowed. Unmounted (lazily) afterwards."""
    mountpoint.mkdir(exist_ok=True)
    with _mounted(["-t", "tmpfs", "-o", f"size={size}", "tmpfs"], mountpoint, "a tmpfs"):
        yield mountpoint


@contextmanager
def bind(source: Path, mountpoint: Path) -> Iterator[Path]:
    """`source` bind-mounted at `mountpoint` (the same filesystem: the same device number);
    skips the test where mounting is not allowed. Unmounted (lazily) afterwards."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    with _mounted(["--bind", str(source)], mountpoint, "a bind mount"):
        yield mountpoint


@contextmanager
def _mounted(args: list[str], mountpoint: Path, what: str) -> Iterator[None]:
    """`mount ARGS MOUNTPOINT` for the block (the test skips where mounting is not allowed),
    then a lazy unmount."""
    mounted = subprocess.run(["mount", *args, str(mountpoint)], capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount {what} here: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(directory: Path) -> Path:
    """Write a file in `directory` until its filesystem has not one byte left; return it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for chunk in (1 << 20, 1 << 16, 4096, 512, 1):
            while True:
                try:
                    os.write(fd, bytes(chunk))
                except OSError as error:
                    assert error.errno == errno.ENOSPC, error
                    break
    finally:
        os.close(fd)
    info = os.statvfs(directory)
    assert info.f_bavail == 0, "the filesystem is not full"
    return filler


def remount_read_only(mountpoint: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mountpoint)], check=True)
