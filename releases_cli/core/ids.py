"""Release ids: UTC timestamps `YYYYMMDDTHHMMSSZ`, with `-N` (N >= 2) appended on collision.

Ids are handed out strictly increasing under the lock (a clock that went backwards reuses the
last timestamp with a higher suffix), so id order is creation order on this machine.

Ids are ASCII: `[0-9]`, not `\\d` (which also takes fullwidth and Arabic-Indic digits), and a
full match, not `$` (which also takes a trailing newline). An id is a path component and a sort
key; a look-alike would be neither.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Annotated

from releases_cli.core.compat import UTC
from releases_cli.core.errors import InvalidInput, UnsafeState

_ID_RE = re.compile(r"(?P<ts>[0-9]{8}T[0-9]{6}Z)(?:-(?P<n>[2-9]|[1-9][0-9]{1,3}))?", re.ASCII)
_TS_FORMAT = "%Y%m%dT%H%M%SZ"

# A str that is a valid id: what the state files' readers check a field of this type against.
ReleaseId = Annotated[str, "release id"]


@lru_cache(maxsize=4096)
def is_valid_id(text: str) -> bool:
    """True when `text` is a well-formed release id (and therefore a safe path component).
    Cached: reading the history and the meta files of 1,000 releases checks each id 5 times."""
    match = _ID_RE.fullmatch(text)
    if match is None:
        return False
    try:
        _parse_stamp(match["ts"])
    except ValueError:
        return False
    return True


def _parse_stamp(stamp: str) -> datetime:
    """`YYYYMMDDTHHMMSSZ` (digits already checked by _ID_RE) as a UTC datetime.

    The same dates as strptime(_TS_FORMAT) accepts, in a fraction of its time: `list` of 1,000
    releases validates every id several times.
    """
    return datetime(
        int(stamp[0:4]),
        int(stamp[4:6]),
        int(stamp[6:8]),
        int(stamp[9:11]),
        int(stamp[11:13]),
        int(stamp[13:15]),
        tzinfo=UTC,
    )


def validate_id(text: str) -> str:
    """Return `text` if it is a well-formed id, else raise InvalidInput (nothing is touched)."""
    if not is_valid_id(text):
        shown = text.encode("unicode_escape").decode()[:80]
        raise InvalidInput(
            f"malformed release id {shown!r}: expected YYYYMMDDTHHMMSSZ (e.g. 20261126T101500Z)"
        )
    return text


def sort_key(release_id: str) -> tuple[str, int]:
    """Order ids by timestamp, then by collision suffix (so `-10` sorts after `-9`)."""
    ts, _, n = release_id.partition("-")
    return ts, int(n) if n else 1


def id_time(release_id: str) -> datetime:
    """The UTC time encoded in an id."""
    return _parse_stamp(release_id.partition("-")[0])


def new_id(now: datetime, existing: Iterable[str]) -> str:
    """A fresh id for `now` that sorts after every id in `existing`."""
    taken = set(existing)
    stamp = now.astimezone(UTC).strftime(_TS_FORMAT)
    latest = max(taken, key=sort_key, default=None)
    n = 1
    if latest is not None and sort_key(latest) >= (stamp, 1):
        stamp, n = sort_key(latest)  # clock did not advance (or went back): bump the suffix
    while True:
        candidate = stamp if n == 1 else f"{stamp}-{n}"
        if not is_valid_id(candidate):  # past -9999: only an id from the far future gets here
            raise UnsafeState(
                f"no release id is left after {latest}: an id far ahead of the clock used up "
                "the id format (artifact and --id ids are refused that far ahead)"
            )
        if candidate not in taken and sort_key(candidate) > sort_key(latest or "0"):
            return candidate
        n += 1
