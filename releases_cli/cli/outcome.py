"""How a `releases` command ends when it does not succeed: one line on stderr and a documented
exit code (core/errors.py ExitCode), never a traceback.

- our errors (ReleasesError): `releases: error: <message>`, the error's own code;
- the OS refusing something we did not expect it to (a full disk, an I/O error, a read-only
  filesystem): the reason and the file, exit 11;
- SIGINT, SIGTERM or SIGHUP: `releases: interrupted: <what is live now>`, exit 130;
- anything else is a bug: one line naming it, where the traceback was saved, exit 1.
Standard library only, and little of it: this module loads on every command.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

from releases_cli.core.errors import (
    ExitCode,
    Interrupted,
    ReleasesError,
    describe_os_error,
    one_line,
)

PREFIX = "releases"


def stop_on_sigterm() -> None:
    """SIGTERM (systemd, CI cancelling a job, `kill`) and SIGHUP (the ssh session or terminal
    went away) stop a command the way Ctrl-C does, so the same clean-up runs (a go-live
    switches back) instead of dying mid-way. A SIGHUP ignored at start (nohup) stays ignored."""
    try:
        signal.signal(signal.SIGTERM, _as_interrupt)
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            signal.signal(signal.SIGHUP, _hung_up)
    except ValueError:
        return  # not the main thread (an embedding caller): leave signals alone


def _as_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _hung_up(signum: int, frame: FrameType | None) -> None:
    """The terminal is gone: writing to it would fail (EIO) in the middle of the switch back,
    so the output goes to /dev/null from here on (build logs keep theirs)."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
    _as_interrupt(signum, frame)


def line_and_code(error: BaseException) -> tuple[str, int] | None:
    """The line to print and the exit code for `error`; None for what must pass (SystemExit)."""
    if isinstance(error, ReleasesError):
        return f"{PREFIX}: error: {one_line(error.message)}", error.exit_code
    if isinstance(error, Interrupted):
        return f"{PREFIX}: interrupted: {one_line(error.message)}", ExitCode.INTERRUPTED
    if isinstance(error, KeyboardInterrupt):
        return f"{PREFIX}: interrupted", ExitCode.INTERRUPTED
    if isinstance(error, OSError):
        return f"{PREFIX}: error: {describe_os_error(error)}", ExitCode.SYSTEM
    if isinstance(error, Exception):
        return _internal(error), ExitCode.FAILURE
    return None


def fail(error: BaseException) -> NoReturn:
    """Print `error`'s line and exit with its code (re-raise what is not ours to handle)."""
    found = line_and_code(error)
    if found is None:
        raise error
    line, code = found
    say(line)
    sys.exit(code)


def exiting(done: SystemExit) -> None:
    """typer turns a Ctrl-C outside any state change (no lock held) into exit 130 silently."""
    if done.code == ExitCode.INTERRUPTED:
        say(f"{PREFIX}: interrupted")


def say(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr gone: the exit code still tells
        print(line, file=sys.stderr, flush=True)


def _internal(error: Exception) -> str:
    """A bug: one line naming the exception and where the traceback is (or the traceback on
    stderr with --verbose / RELEASES_DEBUG=1, for whoever asked for it)."""
    import traceback

    details = "".join(traceback.format_exception(error))
    if os.environ.get("RELEASES_DEBUG") or logging.getLogger("releases_cli").isEnabledFor(
        logging.DEBUG
    ):
        sys.stderr.write(details)
        where = "traceback above"
    else:
        where = _save(details)
    what = one_line(f"{type(error).__name__}: {error}", 300)
    return f"{PREFIX}: error: internal error (please report it): {what}; {where}"


def _save(details: str) -> str:
    """Write the traceback to a temp file; say where, or how to see it when that fails."""
    import tempfile

    try:
        fd, path = tempfile.mkstemp(prefix="releases-error-", suffix=".txt")
        with os.fdopen(fd, "w") as out:
            out.write(details)
    except OSError:
        return "run again with --verbose or RELEASES_DEBUG=1 to see the traceback"
    return f"traceback saved in {path} (or run again with RELEASES_DEBUG=1)"
