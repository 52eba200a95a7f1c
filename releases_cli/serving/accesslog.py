"""nginx's access log in the format releases defines: what the canary analysis and the watch
after a flip read, from a cursor, per release.

A line is `$msec $status $request_time "$upstream_addr" "$cookie_rl_<app>"`. Only the cookie
comes from the client, and nginx's default log escaping writes `"`, `\\` and every byte below
0x20 or above 0x7e as `\\xHH`, so a client cannot end the quoted field early and the line
always has exactly these fields. The path and the user agent are not logged.

The log is data: it is opened with O_NOFOLLOW and O_NONBLOCK and read only when fstat says
it is a regular file, at most `limit_bytes` per call, a line over LINE_CAP skipped without
being kept. A line that does not parse is counted in the cursor, never shown.

Rotation: by rename (logrotate's default), the cursor's inode is found again in the same
directory (`access.log.1`) and read on while the new file is missing or empty (nginx has not
reopened its log yet), then the new file is read from its start; by
copytruncate, a file shorter than the cursor (or one whose byte before the cursor is no longer
a line end) is read again from its start.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from releases_cli.core import safefs
from releases_cli.core.safefs import READ_FLAGS, UnsafePath

LOG_NAME = "access.log"
# `{app}` is the app's name ([serve] app); everything else is nginx's own variables.
LOG_FORMAT = '$msec $status $request_time "$upstream_addr" "$cookie_rl_{app}"'
LINE_CAP = 16 << 10  # a real line is under 200 bytes; a longer one is skipped, never kept
CHUNK = 1 << 20
MIN_LIMIT = 4 * LINE_CAP  # every call gets past a partial line of up to LINE_CAP
ROTATED_SCAN = 1000  # directory entries looked at to find a rotated log by its inode

# One whole line: time, status, request time, then the port of the last upstream tried
# (`$upstream_addr` is `host:port`, a list after retries, `-`, or a unix socket: no port),
# then a bucket when the cookie is one (0-99). No field spans a line.
_LINE = re.compile(
    rb"^(\d{1,12}\.\d{3}) (\d{3}) (\d{1,9}\.\d{3})"
    rb' "(?:[^"\n]* )?(?:(?!unix:)[^" \n]*:(\d{1,5})|[^" \n]*)"'
    rb' "(?:(\d{1,2})|[^"\n]*)"$',
    re.MULTILINE,
)


class Hit(NamedTuple):
    """One request nginx answered."""

    at: float  # unix seconds
    port: int | None  # the upstream that answered last (after retries); None: none, or unix
    status: int
    seconds: float  # $request_time
    bucket: int | None  # the visitor's sticky bucket 0-99 from the cookie; None: none yet


@dataclass(frozen=True)
class Cursor:
    """Where reading stopped: the log file's inode and the offset of the next line in it.
    `inode` 0: no log yet (the file that appears is read from its start)."""

    inode: int = 0
    offset: int = 0
    skipping: bool = False  # inside a line over LINE_CAP: drop bytes up to its end
    malformed: int = 0  # lines skipped since the cursor was made (not parsed, never shown)

    def to_json(self) -> dict[str, object]:
        return {
            "inode": self.inode,
            "offset": self.offset,
            "skipping": self.skipping,
            "malformed": self.malformed,
        }

    @classmethod
    def from_json(cls, data: object) -> Cursor:
        """The cursor of a JSON dict; anything else (a damaged record) is a fresh cursor."""
        if not isinstance(data, dict):
            return cls()
        fields = [data.get("inode"), data.get("offset"), data.get("malformed", 0)]
        counts = [v for v in fields if isinstance(v, int) and not isinstance(v, bool) and v >= 0]
        if len(counts) != len(fields):
            return cls()
        inode, offset, malformed = counts
        return cls(inode, offset, data.get("skipping") is True, malformed)


def log_path(root: Path) -> Path:
    """Where nginx writes the log of the deploy root `root`."""
    return root / ".releases" / "serve" / LOG_NAME


def format_name(app: str) -> str:
    return f"releases_{app}"


def log_format(app: str) -> str:
    """The `log_format` directive of the generated include (http context)."""
    return f"log_format {format_name(app)} escape=default '{LOG_FORMAT.format(app=app)}';"


def end_of(path: Path) -> Cursor:
    """A cursor at the end of the log now (where a window starts); a fresh one when there is
    no readable log yet."""
    try:
        dir_fd = safefs.open_dir(path.parent)
    except OSError:
        return Cursor()
    try:
        fd = _open(dir_fd, path.name)
    except OSError:
        return Cursor()
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        return Cursor(st.st_ino, st.st_size)
    finally:
        os.close(fd)


def read_since(path: Path, cursor: Cursor, limit_bytes: int) -> tuple[list[Hit], Cursor]:
    """The hits logged after `cursor`, reading at most `limit_bytes` (at least MIN_LIMIT), and
    the cursor to go on from: call again until it stops moving.

    UnsafePath when the log is not a regular file (a symlink, a FIFO, a directory); an absent
    log (or directory) is no hits yet."""
    hits: list[Hit] = []
    budget = max(limit_bytes, MIN_LIMIT)
    try:
        dir_fd = safefs.open_dir(path.parent)  # a link there (.releases/serve) is not followed
    except FileNotFoundError:
        return hits, cursor
    try:
        return _read_from(dir_fd, path.name, cursor, budget, hits)
    except UnsafePath as refused:
        raise UnsafePath(refused.errno, refused.strerror, str(path)) from None
    finally:
        os.close(dir_fd)


def _read_from(
    dir_fd: int, name: str, cursor: Cursor, budget: int, hits: list[Hit]
) -> tuple[list[Hit], Cursor]:
    """read_since in the log's directory."""
    with _opened(dir_fd, name) as fd:
        live = os.fstat(fd) if fd >= 0 else None
        if cursor.inode and (live is None or live.st_ino != cursor.inode):
            # Renamed away (or deleted): finish it first. Until nginx reopens its log (no new
            # file yet, or an empty one logrotate made), nginx still appends to the renamed
            # one: stay on it.
            cursor, spent, done = _finish_rotated(dir_fd, name, cursor, budget, hits)
            if not done or live is None or live.st_size == 0:
                return hits, cursor
            budget -= spent
            cursor = replace(cursor, inode=0, offset=0, skipping=False)
        if live is None:
            return hits, cursor
        if cursor.inode != live.st_ino or _truncated(fd, live, cursor):
            cursor = replace(cursor, inode=live.st_ino, offset=0, skipping=False)
        cursor, _, _ = _read(fd, cursor, budget, hits)
        return hits, cursor


@contextmanager
def _opened(dir_fd: int, name: str) -> Iterator[int]:
    """`name` open for reading (see _open), or -1 when there is no such file."""
    try:
        fd = _open(dir_fd, name)
    except FileNotFoundError:
        fd = -1
    try:
        yield fd
    finally:
        if fd >= 0:
            os.close(fd)


def _open(dir_fd: int, name: str) -> int:
    """`name` opened without following a link and without blocking; UnsafePath when it is
    not a regular file."""
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafePath(errno.ELOOP, "is a symlink (not followed)", name) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath(errno.EINVAL, "is not a regular file (not read)", name)
    return fd


def _truncated(fd: int, st: os.stat_result, cursor: Cursor) -> bool:
    """Whether the file was truncated under the cursor (copytruncate): shorter than the
    offset, or the byte before it (a line end, unless skipping) is no longer one."""
    if st.st_size < cursor.offset:
        return True
    if cursor.offset == 0 or cursor.skipping:
        return False
    return os.pread(fd, 1, cursor.offset - 1) != b"\n"


def _finish_rotated(
    dir_fd: int, name: str, cursor: Cursor, limit: int, hits: list[Hit]
) -> tuple[Cursor, int, bool]:
    """Read on in the renamed log (found by the cursor's inode beside `name`): the cursor,
    the bytes read, and whether it is done (read to its end, or gone with its unread lines)."""
    rotated = _by_inode(dir_fd, name, cursor.inode)
    if rotated is None:
        return cursor, 0, True
    with _opened(dir_fd, rotated) as fd:
        if fd < 0:
            return cursor, 0, True
        return _read(fd, cursor, limit, hits)


def _by_inode(dir_fd: int, name: str, inode: int) -> str | None:
    """The name of the file `name*` (not `name`) with this inode in the directory, if any
    among its first ROTATED_SCAN entries."""
    with os.scandir(dir_fd) as entries:
        for index, entry in enumerate(entries):
            if index >= ROTATED_SCAN:
                return None
            if entry.name.startswith(name) and entry.name != name and entry.inode() == inode:
                return entry.name
    return None


def _read(fd: int, cursor: Cursor, limit: int, hits: list[Hit]) -> tuple[Cursor, int, bool]:
    """Parse whole lines from the cursor on, reading at most `limit` bytes: the cursor after
    the last whole line, the bytes read, and whether the end of the file was reached (only a
    partial last line left, to read again once it ends)."""
    offset, skipping, malformed = cursor.offset, cursor.skipping, cursor.malformed
    pending = b""  # the start of a line not ended yet (at most LINE_CAP bytes)
    read = 0
    at_end = False
    while read < limit:
        chunk = os.pread(fd, min(CHUNK, limit - read), offset + len(pending))
        if not chunk:
            at_end = True
            break
        read += len(chunk)
        data = pending + chunk
        if skipping:
            end = data.find(b"\n")
            if end < 0:
                offset, pending = offset + len(data), b""
                continue
            offset, data, skipping = offset + end + 1, data[end + 1 :], False
            malformed += 1
        whole = data.rfind(b"\n") + 1
        found = len(hits)
        hits += map(_hit, _LINE.finditer(data, 0, whole))
        malformed += data.count(b"\n", 0, whole) - (len(hits) - found)
        offset, pending = offset + whole, data[whole:]
        if len(pending) > LINE_CAP:
            offset, pending, skipping = offset + len(pending), b"", True
    return Cursor(cursor.inode, offset, skipping, malformed), read, at_end


def _hit(match: re.Match[bytes]) -> Hit:
    at, status, seconds, port, bucket = match.groups()
    return Hit(
        float(at),
        int(port) if port else None,
        int(status),
        float(seconds),
        int(bucket) if bucket else None,
    )
