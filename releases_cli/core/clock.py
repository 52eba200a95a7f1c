"""Time and identity stamps of the state files: the clock, ISO 8601 UTC text, who and where.

Kept apart from the event log and the meta files because the lock's info file, recovery and
every pipeline need them, and none of those should load the state model to get the time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from releases_cli.core.compat import UTC

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """`2026-11-26T10:15:00.000Z`: what every state file and JSON document holds."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """An ISO 8601 timestamp that names its offset (as `iso` writes it); ValueError otherwise.

    A naive timestamp is refused rather than guessed: local time on one host is not local time
    on another, and order comes from the history, so a guessed offset would reorder it.
    """
    # Python 3.10's fromisoformat reads only what isoformat writes: `Z` is `+00:00` there.
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp {text!r:.40} has no UTC offset")
    return moment


def who() -> str:
    """The person deploying: the login name, with the sudo caller when run through sudo."""
    import getpass  # imports pwd: only a state change asks who is deploying

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user and sudo_user != user:
        user = f"{user} (sudo by {sudo_user})"
    return user


def host() -> str:
    return os.uname().nodename  # what socket.gethostname() returns, without importing socket
