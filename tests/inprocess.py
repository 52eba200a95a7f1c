"""Run `releases ARGS` inside the test process the way `python -m releases_cli ARGS` runs it.

Starting a Python process costs more than most commands; `run_in_process` calls the same `main()`
with what a fresh process would see and gives back what its parent would get:

- the argv, environment (also for the commands it starts) and current directory of that process;
- the package's module state as a fresh import leaves it (pristine.py);
- stdout and stderr on files of their own at file-descriptor level (what children inherit writes
  there too), neither of them a terminal; stdin the one a child would inherit;
- the exit status: SystemExit codes as the OS reports them, a traceback through sys.excepthook
  and 1 for an uncaught exception, -SIGINT for an uncaught KeyboardInterrupt;
- a fresh interpreter's logging (no handlers, so main()'s basicConfig writes to this call's
  stderr), warnings filters, signal dispositions and exception hooks;
- non-daemon threads joined before "exiting", as interpreter shutdown joins them.

The caller (helpers.run_cli) sends to a real process what only a process can do: fault points
that SIGKILL it, a timeout that must kill it, interpreter start-up variables.
"""

from __future__ import annotations

import contextlib
import io
import locale
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, BinaryIO, TextIO

from pristine import CommandsCopy

REPO = Path(__file__).resolve().parent.parent
MAIN_SCRIPT = REPO / "releases_cli" / "__main__.py"  # sys.argv[0] under `python -m releases_cli`
# The package as this checkout's process would import it (PYTHONPATH=REPO), its module state as
# the import left it at the start of every call.
_COMMANDS_COPY = CommandsCopy(REPO)


class _Overtime(BaseException):
    """The timeout fired (a BaseException: no `except Exception` in the CLI may swallow it)."""


def run_in_process(
    args: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str],
    timeout: float,
    main: Callable[[], object] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`main()` (by default the CLI's) with argv `args`, the environment exactly `env` and cwd
    `cwd`, as a process runs it; raises subprocess.TimeoutExpired after `timeout` seconds, as
    subprocess.run does."""
    command = [sys.executable, "-m", "releases_cli", *args]
    before = set(threading.enumerate())
    with (
        _COMMANDS_COPY.installed(),
        _process_state([str(MAIN_SCRIPT), *args], cwd, env),
        _captured_output(unbuffered=bool(env.get("PYTHONUNBUFFERED"))) as output,
    ):
        try:
            with _deadline(timeout):
                code = _exit_status(main or _cli_main())
                _join_new_threads(before)
        except _Overtime:
            raise subprocess.TimeoutExpired(command, timeout, *output()) from None
        stdout, stderr = output()
    return subprocess.CompletedProcess(command, code, stdout, stderr)


def _cli_main() -> Callable[[], object]:
    """The entry point, from the commands' copy of the package (pristine.py)."""
    from releases_cli.cli import app

    return app.main


def _exit_status(main: Callable[[], object]) -> int:
    """Run `main` and return the status the interpreter would exit with."""
    try:
        main()
    except SystemExit as done:
        if done.code is None:
            return 0
        if isinstance(done.code, int):
            return done.code & 0xFF  # what waitpid reports: exit(256) is 0, exit(-1) is 255
        print(done.code, file=sys.stderr)  # sys.exit("message"): printed, status 1
        return 1
    except BaseException as error:  # the interpreter's top level: report it, exit
        sys.excepthook(type(error), error, error.__traceback__)
        # An unhandled KeyboardInterrupt makes CPython kill itself with SIGINT.
        return -signal.SIGINT if isinstance(error, KeyboardInterrupt) else 1
    return 0


def _join_new_threads(before: set[threading.Thread]) -> None:
    """Interpreter shutdown waits for the non-daemon threads the command started."""
    for thread in threading.enumerate():
        if thread not in before and not thread.daemon and thread is not threading.current_thread():
            thread.join()


@contextmanager
def _process_state(argv: list[str], cwd: Path | None, env: Mapping[str, str]) -> Iterator[None]:
    with (
        _environment(env),
        _current_directory(cwd),
        _argv(argv),
        _fresh_logging(),
        _fresh_warnings(),
        _fresh_signals(),
        _fresh_hooks(),
    ):
        yield


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ (so also what children inherit) is exactly `env` for the call."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _current_directory(cwd: Path | None) -> Iterator[None]:
    saved = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved)


@contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    """click parses sys.argv[1:]; the lock info records it as the command line."""
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved


@contextmanager
def _fresh_logging() -> Iterator[None]:
    """No root handlers (pytest's capture handlers would make main()'s basicConfig a no-op and
    hide every warning), the default WARNING level, our logger's level unset, none disabled."""
    root = logging.getLogger()
    ours = logging.getLogger("releases_cli")
    handlers, level, our_level = root.handlers[:], root.level, ours.level
    disabled = root.manager.disable
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    ours.setLevel(logging.NOTSET)
    logging.disable(logging.NOTSET)
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            handler.close()
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        ours.setLevel(our_level)
        logging.disable(disabled)


@contextmanager
def _fresh_warnings() -> Iterator[None]:
    """CPython's default filters (pytest's record every warning instead of printing it), a
    fresh once-per-location registry, and warnings printed to this call's stderr."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in (ResourceWarning, ImportWarning, PendingDeprecationWarning):
            warnings.simplefilter("ignore", category)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
        warnings.showwarning = _show_warning
        yield


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    stream = sys.stderr if file is None else file
    with contextlib.suppress(OSError, AttributeError):
        stream.write(warnings.formatwarning(message, category, filename, lineno, line))


@contextmanager
def _fresh_signals() -> Iterator[None]:
    """The dispositions a child of this process starts with, put back afterwards (the CLI sets
    its own, e.g. SIGTERM): ignored stays ignored (inherited), handlers become the default
    (exec resets them); then CPython ignores SIGPIPE and SIGXFSZ and makes SIGINT raise
    KeyboardInterrupt unless it was ignored."""
    start: dict[signal.Signals, _Handler] = {}
    for number in _INHERITED:
        ignored = signal.getsignal(number) == signal.SIG_IGN
        start[number] = signal.SIG_IGN if ignored else signal.SIG_DFL
    if start[signal.SIGINT] == signal.SIG_DFL:
        start[signal.SIGINT] = signal.default_int_handler
    start[signal.SIGPIPE] = start[signal.SIGXFSZ] = signal.SIG_IGN
    saved = {number: signal.signal(number, handler) for number, handler in start.items()}
    try:
        yield
    finally:
        for number, handler in saved.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(number, handler)


_Handler = Callable[[int, FrameType | None], object] | int
# The signals a command may handle or be stopped by; not the ones faulthandler (set up by pytest
# outside Python's knowledge) handles.
_INHERITED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGPIPE,
    signal.SIGXFSZ,
)


@contextmanager
def _fresh_hooks() -> Iterator[None]:
    """The interpreter's own hooks: exceptions in threads and at the top level are printed on
    stderr (pytest's hooks would collect them as warnings); typer installs its own on sys."""
    saved = sys.excepthook, sys.unraisablehook, threading.excepthook
    sys.excepthook, sys.unraisablehook = sys.__excepthook__, sys.__unraisablehook__
    threading.excepthook = threading.__excepthook__
    try:
        yield
    finally:
        sys.excepthook, sys.unraisablehook, threading.excepthook = saved


@contextmanager
def _captured_output(unbuffered: bool) -> Iterator[Callable[[], tuple[str, str]]]:
    """fds 1 and 2 on fresh files and sys.std* built over fds 0-2 as CPython builds them for a
    pipe; yields a function returning (stdout, stderr) decoded as subprocess.run(text=True)
    decodes them."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        _fd_redirected(1, out),
        _fd_redirected(2, err),
        _std_streams(unbuffered),
    ):

        def output() -> tuple[str, str]:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()  # what interpreter exit does
            return _read(out), _read(err)

        yield output


@contextmanager
def _fd_redirected(fd: int, target: IO[bytes]) -> Iterator[None]:
    saved = os.dup(fd)
    os.dup2(target.fileno(), fd)
    try:
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


@contextmanager
def _std_streams(unbuffered: bool) -> Iterator[None]:
    """sys.std* over fds 0-2 as CPython builds them when they are not a terminal."""
    saved = sys.stdin, sys.stdout, sys.stderr
    try:
        sys.stdin = _stdio(0, unbuffered)
    except OSError:
        sys.stdin = None  # fd 0 closed: CPython sets None too
    sys.stdout, sys.stderr = _stdio(1, unbuffered), _stdio(2, unbuffered)
    try:
        yield
    finally:
        for stream in (sys.stdin, sys.stdout, sys.stderr):
            if stream is not None:  # made above: nothing but late daemon threads holds them
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        sys.stdin, sys.stdout, sys.stderr = saved


def _stdio(fd: int, unbuffered: bool) -> TextIO:
    """CPython's create_stdio for a non-terminal: block-buffered, except stderr, which is
    line-buffered; with -u / PYTHONUNBUFFERED written through unbuffered; '\\n' newlines; the
    encoding and error handler this interpreter chose for its own stdio (the same locale and
    PYTHON* variables: other values go to a real process)."""
    write = fd != 0
    binary: BinaryIO
    if write and unbuffered:
        binary = io.FileIO(fd, "wb", closefd=False)
    else:
        binary = open(fd, "wb" if write else "rb", closefd=False)  # noqa: SIM115 - closed by caller
    encoding, errors = _stdio_codec()
    return io.TextIOWrapper(
        binary,
        encoding,
        "backslashreplace" if fd == 2 else errors,
        newline="\n",
        line_buffering=fd == 2 and not unbuffered,
        write_through=unbuffered,
    )


def _stdio_codec() -> tuple[str, str]:
    model = sys.__stdout__
    if model is None:
        return locale.getpreferredencoding(False), "strict"
    return model.encoding, model.errors or "strict"


def _read(file: IO[bytes]) -> str:
    """The whole file as subprocess.run(text=True) returns a pipe's bytes (universal newlines)."""
    file.seek(0)
    data = file.read().decode(locale.getpreferredencoding(False))
    return data.replace("\r\n", "\n").replace("\r", "\n")


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise _Overtime in this (the main) thread after `seconds`, like subprocess.run's timeout."""

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise _Overtime

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
