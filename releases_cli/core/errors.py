"""One error base, caught once at the top of the CLI: a one-line message and an exit code.

The exit codes are part of the interface (documented in the README); never renumber them.
"""

from __future__ import annotations


class ExitCode:
    """Documented process exit codes."""

    OK = 0
    FAILURE = 1  # unexpected internal error (a bug: please report it)
    USAGE = 2  # bad command-line usage (typer/click's own code)
    INVALID = 3  # malformed input: bad release id, bad config, unsafe URL or option
    NOT_FOUND = 4  # unknown release, nothing to roll back to, missing source
    LOCKED = 5  # another state-changing command holds the lock
    BUILD_FAILED = 6  # a build command (or before_* hook) failed; `current` untouched
    UNSAFE_STATE = 7  # the deploy root is in a state we refuse to touch (see message)
    SOURCE_FAILED = 8  # fetching or exporting the code failed
    HEALTH_FAILED = 9  # restart or health check failed; switched back to the previous release
    PROBLEMS_FOUND = 10  # `releases doctor` found problems (each printed with its fix)
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


class Interrupted(ReleasesError):
    exit_code = ExitCode.INTERRUPTED
