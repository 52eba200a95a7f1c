"""One tar header block and its pax records, parsed strictly: every number is checked digit by
digit (octal, or GNU base-256) and range-checked, the checksum must match, and a pax record
must be well formed and lie inside its header's data. Nothing here loops on what a header
says or allocates more than the 512-byte block (or a pax header already capped by its reader)
holds, so any bytes give an Entry or a BadArchive, never a hang or an overflow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from releases_cli.core.errors import SourceFailed

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
MAX_PAX = 64 << 10  # pax data of one header: paths and link targets are at most PATH_MAX each
MAX_PATH = 4096  # bytes of an entry's path or a link's target (Linux PATH_MAX)
MAX_SIZE = 1 << 40  # one member's data: beyond what any release file is (and than 11 octal)
MAX_MTIME = 1 << 34  # seconds either side of 1970 (years 1425 to 2514): any real timestamp
DIR, SYMLINK, PAX_LOCAL, PAX_GLOBAL = b"5", b"2", b"x", b"g"
FILE = (b"0", b"\0", b"7")  # regular (7: contiguous, treated as regular by every tar)
_MAGICS = (b"ustar\x0000", b"ustar  \0")  # POSIX, and GNU tar's
_PAX_MTIME = re.compile(r"-?[0-9]{1,20}(\.[0-9]{0,9})?")
_PAX_SIZE = re.compile(r"[0-9]{1,20}")
_PAX_LENGTH = re.compile(rb"[1-9][0-9]{0,7}")


class BadArchive(SourceFailed):
    """The bytes are not a well-formed tar stream (or exceed a limit): one line saying why."""


@dataclass(frozen=True)
class Entry:
    """One tar member, as `git archive` and `releases pack` write them (ustar, pax for long
    values)."""

    name: str
    kind: bytes  # DIR, FILE, SYMLINK (anything else is skipped by the extractor)
    mode: int
    size: int
    mtime: int
    linkname: str


def kind_of(header: bytes) -> bytes:
    return header[156:157]


def check_block(header: bytes) -> None:
    """A ustar header block with a matching checksum, else BadArchive."""
    if header[257:265] not in _MAGICS:
        raise BadArchive("the archive is not a ustar tar archive (no ustar magic in a header)")
    stored = number(header[148:156], "checksum")
    unsigned = sum(header[:148]) + 8 * 0x20 + sum(header[156:])
    if stored == unsigned:
        return
    signed = unsigned - 256 * sum(1 for b in header[:148] + header[156:] if b > 127)
    if stored != signed:  # some old tars summed signed bytes
        raise BadArchive("the archive has a tar header with a wrong checksum")


def data_size(header: bytes, pax: dict[str, str]) -> int:
    """Bytes of data following the header (pax `size` overrides the header's)."""
    text = pax.get("size")
    if text is None:
        size = number(header[124:136], "size")
    elif _PAX_SIZE.fullmatch(text):
        size = int(text)
    else:
        raise BadArchive(f"bad size {_shown(text)} in a pax header")
    if not 0 <= size <= MAX_SIZE:
        raise BadArchive(f"a tar member claims {size} bytes (more than {MAX_SIZE} or negative)")
    return size


def entry(header: bytes, pax: dict[str, str], size: int) -> Entry:
    """The member a checked header (and its pax records) describes."""
    prefix = _text(header[345:500])
    name = pax.get("path") or (f"{prefix}/" if prefix else "") + _text(header[0:100])
    linkname = pax.get("linkpath") or _text(header[157:257])
    for what, value in (("path", name), ("link target", linkname)):
        if "\0" in value or (
            len(value) > MAX_PATH // 4 and len(value.encode("utf-8", "surrogateescape")) > MAX_PATH
        ):
            raise BadArchive(f"a tar member's {what} is longer than {MAX_PATH} bytes or has NUL")
    return Entry(name, kind_of(header), _mode(header), size, _mtime(header, pax), linkname)


def number(field: bytes, what: str) -> int:
    """A numeric header field: octal digits (NUL/space padded), or GNU base-256 (first byte
    0x80 positive, 0xff negative)."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * len(field) - 8)) if field[0] == 0xFF else value
    digits = field.rstrip(b"\0 ").lstrip(b" ")
    if not digits:
        return 0
    if digits.strip(b"01234567"):
        raise BadArchive(f"bad {what} {_shown(field)} in a tar header")
    return int(digits, 8)


def pax_records(data: bytes) -> dict[str, str]:
    """`<length> <key>=<value>\\n` records (POSIX pax); each must lie inside `data`."""
    records = {}
    at = 0
    while at < len(data):
        if data[at:] == bytes(len(data) - at):  # NUL padding after the last record
            break
        space = data.find(b" ", at, at + 9)
        length = data[at:space] if space > at else b""
        end = at + int(length) if _PAX_LENGTH.fullmatch(length) else 0
        if end <= space + 1 or end > len(data) or data[end - 1 : end] != b"\n":
            raise BadArchive("a malformed pax record in the archive")
        key, equals, value = data[space + 1 : end - 1].partition(b"=")
        if not equals or not key:
            raise BadArchive("a malformed pax record in the archive")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        at = end
    return records


def _mode(header: bytes) -> int:
    return number(header[100:108], "mode") & 0o7777


def _mtime(header: bytes, pax: dict[str, str]) -> int:
    text = pax.get("mtime")
    if text is None:
        mtime = number(header[136:148], "mtime")
    elif _PAX_MTIME.fullmatch(text):
        mtime = int(text.split(".", 1)[0])
    else:
        raise BadArchive(f"bad mtime {_shown(text)} in a pax header")
    if not -MAX_MTIME < mtime < MAX_MTIME:
        raise BadArchive(f"a tar member has an mtime out of range ({_shown(str(mtime))})")
    return mtime


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _shown(value: bytes | str) -> str:
    """A value from the archive for an error line: escaped, and clipped."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
