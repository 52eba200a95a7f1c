"""Who watches a canary: the process holding an flock on `.releases/serve/canary.watcher`
(the deploy that started it, or the detached watcher it was handed to). The kernel drops the
flock when its holder dies, so a canary whose flock nobody holds has lost its watcher
(a crash, a reboot) and recovery aborts it (serving/bluegreen.py).
"""

from __future__ import annotations

import fcntl
import os
import time

from releases_cli.core.layout import DeployRoot
from releases_cli.serving.servestate import SERVE_DIR, ensure_serve_dir

WATCHER = "canary.watcher"


def hold(root: DeployRoot) -> int | None:
    """The watcher flock's descriptor (inheritable, for the detached watcher), or None when
    another live process holds it."""
    ensure_serve_dir(root)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root.state / SERVE_DIR / WATCHER, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def take_over(root: DeployRoot, seconds: float) -> int | None:
    """`hold`, waiting up to `seconds` for a watcher whose canary has ended (promoted or
    aborted from another shell) to notice at its next look and let go."""
    deadline = time.monotonic() + seconds
    while True:
        fd = hold(root)
        if fd is not None or time.monotonic() >= deadline:
            return fd
        time.sleep(0.1)


def watched(root: DeployRoot) -> bool:
    """Whether a live process (this one included, through another descriptor) holds it."""
    try:
        fd = hold(root)
    except OSError:
        return True  # cannot tell: never abort on a guess
    if fd is None:
        return True
    os.close(fd)
    return False
