"""Release ids: UTC timestamps `YYYYMMDDTHHMMSSZ`, with `-N` (N >= 2) appended on collision.

Ids are handed out strictly increasing under the lock (a clock that went backwards reuses the
last timestamp with a higher suffix), so id order is creation order on this machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from releases_cli.core.errors import InvalidInput

_ID_RE = re.compile(r"^(?P<ts>\d{8}T\d{6}Z)(?:-(?P<n>[2-9]|[1-9]\d{1,3}))?$")
_TS_FORMAT = "%Y%m%dT%H%M%SZ"


def is_valid_id(text: str) -> bool:
    """True when `text` is a well-formed release id (and therefore a safe path component)."""
    match = _ID_RE.match(text)
    if match is None:
        return False
    try:
        _parse_stamp(match["ts"])
    except ValueError:
        return False
    return True


def _parse_stamp(stamp: str) -> datetime:
    """`YYYYMMDDTHHMMSSZ` (digits already checked by _ID_RE) as a UTC datetime.

    The same dates as strptime(_TS_FORMAT) accepts, about 10x faster: `list` of 1,000 releases
    validates every id several times.
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
        if candidate not in taken and sort_key(candidate) > sort_key(latest or "0"):
            return candidate
        n += 1
