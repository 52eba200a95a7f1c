"""Holding SIGINT/SIGTERM/SIGHUP over a few steps that must finish together.

A Ctrl-C between "mark the release failed" and "switch back" would leave `current` on a failed
release (safe, but not what the user asked for); inside `deferred()` the signal waits until
the steps are done and is then delivered as it would have been.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def deferred() -> Iterator[None]:
    """Run the block with SIGINT/SIGTERM/SIGHUP held; a signal received meanwhile is re-raised (with
    the handlers of before the block) once it ends. Python handles signals in the main thread
    only, so elsewhere this is a plain block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if received:
            signal.raise_signal(received[0])
