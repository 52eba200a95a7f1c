"""How the library tells its caller what it is doing, without knowing about terminals.

A pipeline reports through `report`, which is either a plain `Callable[[str], None]` (a note
per call: what the foundation and simple callers use) or a `Reporter`, which additionally hears
when each named stage starts and finishes (with its elapsed time) and receives the output of
the commands it runs. `stage()` and `echo_for()` work with both, so a pipeline never has to
ask which kind it was given. Rendering (live lines, colours, timestamps) lives in the CLI
(progress.py); `PlainReporter` here is the terminal-free default.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO, cast, runtime_checkable

from releases_cli.core.compat import StrEnum

Report = Callable[[str], None]


class Stage(StrEnum):
    """Stage names, in pipeline order. They appear in progress lines (docs/reference.md)."""

    FETCH = "fetch"  # a git source: update the mirror, resolve the ref
    COPY = "copy"  # a directory source
    EXPORT = "export"  # a git source: the commit's tree into the release
    LINK_SHARED = "link shared"
    BUILD = "build"
    SWITCH = "switch"
    RESTART = "restart"
    HEALTH = "health check"
    PRUNE = "prune"


@runtime_checkable
class Reporter(Protocol):
    """A report callback that also hears stages and command output."""

    def __call__(self, message: str) -> None:
        """A note: something worth telling (recovered state, a warning, a decision)."""

    def stage_started(self, name: str, detail: str) -> None:
        """Stage `name` began; `detail` says on what (a command, a path), may be empty."""

    def stage_finished(self, name: str, seconds: float, ok: bool, detail: str) -> None:
        """Stage `name` ended after `seconds`; `ok` is False when it raised."""

    def output(self, text: str) -> None:
        """Output of a command run by the current stage (a build, a restart), verbatim."""


class StageHandle:
    """Given to the body of `stage()`: set `detail` to say how the stage ended, or call
    `fail()` for a stage that failed without raising (a check that returns its problem).
    A plain class: a dataclass would cost every command's start-up for two fields."""

    def __init__(self) -> None:
        self.detail = ""
        self.ok = True

    def fail(self, detail: str) -> None:
        self.ok = False
        self.detail = detail


@contextmanager
def stage(report: Report, name: str, detail: str = "") -> Iterator[StageHandle]:
    """Run the body as stage `name`: started/finished (with elapsed time) go to a Reporter; a
    plain callback gets one note at the start. An exception marks the stage failed and
    propagates unchanged."""
    handle = StageHandle()
    reporter = report if isinstance(report, Reporter) else None
    if reporter is None:
        report(f"{name}: {detail}" if detail else name)
    else:
        reporter.stage_started(name, detail)
    started = time.monotonic()
    try:
        yield handle
    except BaseException:
        if reporter is not None:
            reporter.stage_finished(name, time.monotonic() - started, False, handle.detail)
        raise
    if reporter is not None:
        reporter.stage_finished(name, time.monotonic() - started, handle.ok, handle.detail)


class _OutputStream(io.TextIOBase):
    """A write-only text stream that hands everything to `Reporter.output`."""

    def __init__(self, reporter: Reporter) -> None:
        super().__init__()
        self._reporter = reporter

    def write(self, text: str) -> int:
        self._reporter.output(text)
        return len(text)


def echo_for(report: Report, echo: TextIO | None) -> TextIO | None:
    """Where command output should go: an explicit `echo` wins, else the Reporter's `output`,
    else None (the runner's default, stdout)."""
    if echo is not None or not isinstance(report, Reporter):
        return echo
    return cast(TextIO, _OutputStream(report))


class PlainReporter:
    """The terminal-free Reporter: one line per event on `stream` (stderr by default), command
    output passed through untouched. What the library uses when its caller gives none."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def _line(self, text: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(text + "\n")
        stream.flush()

    def __call__(self, message: str) -> None:
        self._line(message)

    def stage_started(self, name: str, detail: str) -> None:
        self._line(f"{name}: {detail}" if detail else f"{name}...")

    def stage_finished(self, name: str, seconds: float, ok: bool, detail: str) -> None:
        outcome = "done" if ok else "FAILED"
        self._line(f"{name} {outcome} in {seconds:.1f}s" + (f" ({detail})" if detail else ""))

    def output(self, text: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(text)
        stream.flush()
