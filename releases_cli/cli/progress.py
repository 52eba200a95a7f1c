"""Rendering a pipeline's progress at the terminal (the CLI side of report.Reporter).

- On a terminal: one live line per stage (spinner, name, detail, elapsed time, redrawn in
  place), turned into a ✓/✗ line with the final time when the stage ends; command output is
  streamed beneath the stage's header line. Colours unless NO_COLOR is set.
- Anywhere else (CI, Ansible, a pipe) or with TERM=dumb: plain lines prefixed with a UTC
  timestamp, and no escape codes at all (even ones in a build's own output are stripped).
- --quiet: nothing but the final summary line (and errors); --verbose: the library's own log
  messages too.

Progress and command output go to stdout (where the summary line ends up too); notes go to
stderr. Standard library only: importing this must stay cheap (`rollback` start-up budget).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from releases_cli.cli.summary import duration
from releases_cli.cli.text import OneLineFormatter, shown, unguarded, with_colours
from releases_cli.core.compat import UTC
from releases_cli.core.report import Reporter

_CSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_TICK = 0.1  # seconds between redraws of the live line


def strip_escapes(text: str) -> str:
    """`text` without ANSI escape sequences (colours, cursor moves, OSC titles)."""
    return _CSI.sub("", text)


def color_wanted() -> bool:
    """NO_COLOR (https://no-color.org): present and non-empty disables colour."""
    return not os.environ.get("NO_COLOR")


def is_live_terminal(stream: TextIO) -> bool:
    """A terminal that understands carriage-return redraws (not TERM=dumb)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


class QuietReporter:
    """--quiet: stages, notes and command output are dropped (the log file keeps the output)."""

    def __call__(self, message: str) -> None:
        """Dropped."""

    def stage_started(self, name: str, detail: str) -> None:
        """Dropped."""

    def stage_finished(self, name: str, seconds: float, ok: bool, detail: str) -> None:
        """Dropped."""

    def output(self, text: str) -> None:
        """Dropped."""


class TimestampReporter:
    """Not a terminal: `2026-11-26T10:15:00Z build: $ npm ci` lines, no escape codes."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self._out = out
        self._err = err

    @staticmethod
    def _stamp() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _write(self, stream: TextIO, text: str) -> None:
        stream.write(f"{self._stamp()} {shown(strip_escapes(text))}\n")
        stream.flush()

    def __call__(self, message: str) -> None:
        self._write(self._err, message)

    def stage_started(self, name: str, detail: str) -> None:
        self._write(self._out, f"{name}: {detail}" if detail else f"{name}: started")

    def update(self, detail: str) -> None:
        """A watch's live counts: one progress line each time."""
        self._write(self._out, detail)

    def stage_finished(self, name: str, seconds: float, ok: bool, detail: str) -> None:
        outcome = "ok" if ok else "FAILED"
        extra = f" ({detail})" if detail else ""
        self._write(self._out, f"{name}: {outcome} in {duration(seconds)}{extra}")

    def output(self, text: str) -> None:
        self._out.write(strip_escapes(text))
        self._out.flush()


class TerminalReporter:
    """A terminal: a live, redrawn line for the running stage; output streamed beneath."""

    def __init__(self, out: TextIO, err: TextIO, color: bool) -> None:
        # Writes its own escape codes, so it escapes what it shows itself (shown, with_colours).
        self._out = unguarded(out)
        self._err = err
        self._color = color
        utf8 = "utf" in (getattr(out, "encoding", "") or "").lower()
        self._ok, self._fail, self._arrow = ("✓", "✗", "▸") if utf8 else ("ok", "!!", ">")
        self._spinner = _SPINNER if utf8 else "-\\|/"
        self._lock = threading.Lock()
        self._stage: tuple[str, str, float] | None = None  # name, detail, monotonic start
        self._header_shown = False  # the stage line was made permanent (output follows it)
        self._partial = ""  # output received without its newline yet
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def _sgr(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self._color else text

    def _status(self) -> str:
        if self._stage is None:
            return ""
        name, detail, started = self._stage
        elapsed = time.monotonic() - started
        spin = self._spinner[int(elapsed / _TICK) % len(self._spinner)]
        text = f"{spin} {name}" + (f"  {detail}" if detail else "")
        width = shutil.get_terminal_size((80, 24)).columns
        timer = f"  {duration(elapsed)}"
        # Never let the live line wrap: a wrapped line cannot be redrawn with \r.
        room = max(width - len(timer) - 1, 10)
        if len(text) > room:
            text = text[: room - 1] + "…"
        return self._sgr("36", text) + self._sgr("2", timer)

    def _redraw(self) -> None:
        self._out.write("\r\x1b[K" + self._status())
        self._out.flush()

    def _clear(self) -> None:
        self._out.write("\r\x1b[K")

    def _tick(self) -> None:
        while not self._stop.wait(_TICK):  # stops as soon as the stage finishes
            with self._lock:
                if self._stage is not None:
                    self._redraw()

    def __call__(self, message: str) -> None:
        with self._lock:
            self._clear()
            self._out.flush()
            self._err.write(shown(message) + "\n")
            self._err.flush()
            self._redraw()

    def stage_started(self, name: str, detail: str) -> None:
        with self._lock:
            self._stage = (shown(name), shown(detail), time.monotonic())
            self._header_shown = False
            self._redraw()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
        self._ticker.start()

    def update(self, detail: str) -> None:
        """The live line shows `detail` now (a watch's counts), redrawn in place."""
        with self._lock:
            if self._stage is None:
                self._stage = ("watch", shown(detail), time.monotonic())
                self._stop = threading.Event()
                self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
                self._ticker.start()
            else:
                self._stage = (self._stage[0], shown(detail), self._stage[2])
            self._redraw()

    def stage_finished(self, name: str, seconds: float, ok: bool, detail: str) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            self._flush_partial()
            earlier = self._stage[1] if self._stage else ""
            self._stage = None
            mark = self._sgr("32", self._ok) if ok else self._sgr("31", self._fail)
            words = shown(" ".join(part for part in (name, detail or earlier) if part))
            self._clear()
            self._out.write(f"{mark} {words}  {self._sgr('2', duration(seconds))}\n")
            self._out.flush()

    def output(self, text: str) -> None:
        with self._lock:
            if self._stage is not None and not self._header_shown:
                # A permanent header for the output to sit under; the live line moves below it.
                name, detail, _ = self._stage
                self._clear()
                self._out.write(self._sgr("1", f"{self._arrow} {name}  {detail}".rstrip()) + "\n")
                self._header_shown = True
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
            if not lines:
                return
            body = "".join(
                "  " + self._sgr("2", with_colours(line.rstrip("\r"))) + "\n" for line in lines
            )
            self._out.write("\r\x1b[K" + body)
            # A chatty build prints thousands of lines: redrawing the live line after each one
            # would double the terminal traffic, so leave that to the ticker (every 0.1 s).
            self._out.flush()

    def _flush_partial(self) -> None:
        if self._partial:
            self._clear()
            self._out.write("  " + self._sgr("2", with_colours(self._partial)) + "\n")
            self._partial = ""


def make_reporter(
    quiet: bool = False,
    verbose: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> Reporter:
    """The reporter for this run, chosen from the flags and where stdout goes; also sets the
    log level (--verbose shows the library's info messages)."""
    out = out or sys.stdout
    err = err or sys.stderr
    # Only our own modules get chattier (filelock's debug lines are noise to a deployer).
    logging.getLogger("releases_cli").setLevel(logging.DEBUG if verbose else logging.WARNING)
    if verbose:  # name the level and the module: "DEBUG: releases_cli.core.prune: ..."
        for handler in logging.getLogger().handlers:
            handler.setFormatter(OneLineFormatter("%(levelname)s: %(name)s: %(message)s"))
            handler.setLevel(logging.DEBUG)
    if quiet:
        return QuietReporter()
    if is_live_terminal(out):
        return TerminalReporter(out, err, color_wanted())
    return TimestampReporter(out, err)


def live_line(reporter: Reporter) -> Callable[[str], None]:
    """Where a watch's live counts go: the redrawn stage line on a terminal (`update`), a
    plain line anywhere else."""
    update = getattr(reporter, "update", None)
    return update if callable(update) else reporter
