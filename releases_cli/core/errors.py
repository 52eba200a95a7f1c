"""One error base, caught once at the top of the CLI: a one-line message and an exit code.

The exit codes are part of the interface (docs/failure-handling.md); never renumber them.
"""

from __future__ import annotations

import errno
from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes."""

    OK = 0
    FAILURE = 1  # internal error: a bug (please report it)
    USAGE = 2  # bad command-line usage (typer/click's own code)
    INVALID = 3  # malformed input: bad release id, bad config, unsafe URL or option
    NOT_FOUND = 4  # unknown release, nothing to roll back to, missing source
    LOCKED = 5  # another state-changing command holds the lock, or deploys are frozen
    BUILD_FAILED = 6  # a build command (or before_* hook) failed; `current` untouched
    UNSAFE_STATE = 7  # the deploy root is in a state we refuse to touch (see message)
    SOURCE_FAILED = 8  # fetching or exporting the code failed
    HEALTH_FAILED = 9  # restart or health check failed; switched back to the previous release
    PROBLEMS_FOUND = 10  # `releases doctor` found problems (each printed with its fix)
    SYSTEM = 11  # the OS refused: disk full, I/O error, read-only filesystem, permission denied
    ABORTED = 12  # aborted by analysis: traffic is back on the stable release
    INTERRUPTED = 130  # SIGINT / SIGTERM


class ReleasesError(Exception):
    """Base of every error the tool reports to the user."""

    exit_code: int = ExitCode.FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ReleasesError):
    exit_code = ExitCode.INVALID


class NotFound(ReleasesError):
    exit_code = ExitCode.NOT_FOUND


class Locked(ReleasesError):
    exit_code = ExitCode.LOCKED


class BuildFailed(ReleasesError):
    exit_code = ExitCode.BUILD_FAILED


class UnsafeState(ReleasesError):
    exit_code = ExitCode.UNSAFE_STATE


class SourceFailed(ReleasesError):
    exit_code = ExitCode.SOURCE_FAILED


class HealthFailed(ReleasesError):
    exit_code = ExitCode.HEALTH_FAILED


class Aborted(ReleasesError):
    """A canary (or the watch after a flip) failed its analysis; traffic is back on the
    stable release."""

    exit_code = ExitCode.ABORTED


class SystemFailure(ReleasesError):
    """The operating system refused an operation (ENOSPC, EIO, EROFS, EACCES, ...)."""

    exit_code = ExitCode.SYSTEM

    @classmethod
    def of(cls, error: OSError, doing: str = "") -> SystemFailure:
        return cls(describe_os_error(error, doing))


class Interrupted(BaseException):
    """SIGINT/SIGTERM, carrying one line that says what is live now.

    A BaseException, like KeyboardInterrupt: no `except Exception` or `except ReleasesError`
    on the way up may swallow a user's interrupt.
    """

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_HINTS = {
    errno.ENOSPC: "free space (e.g. `releases prune`) and retry",
    errno.EDQUOT: "the disk quota is used up; free space and retry",
    errno.EIO: "the disk reported an I/O error; check the device (dmesg)",
}


def describe_os_error(error: OSError, doing: str = "") -> str:
    """`error` as one line: what we were doing, the OS's reason, the file, and what to do."""
    reason = error.strerror or type(error).__name__
    where = f": {error.filename}" if error.filename is not None else ""
    hint = _HINTS.get(error.errno or 0)
    text = f"{doing + ': ' if doing else ''}{reason}{where}" + (f"; {hint}" if hint else "")
    return one_line(text)


def one_line(text: str, limit: int = 1000) -> str:
    """`text` on one line (line breaks become "; "), clipped to `limit` characters."""
    joined = "; ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."
