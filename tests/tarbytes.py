"""Tar bytes written by hand, field by field (not by tarfile, which refuses to write most of
what a hostile archive holds): headers with any raw number field, pax records of any shape,
generated streams that never end, and a sound artifact whose manifest says something else."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path

import zstandard

from releases_cli.sources.artifact import container
from releases_cli.sources.artifact import manifest as mf

BLOCK = 512
RELEASE_ID = "20261101T000000Z"


def octal(value: int, width: int) -> bytes:
    """A ustar number field: `width - 1` octal digits and a NUL."""
    return f"{value:0{width - 1}o}".encode() + b"\0"


def header(
    name: bytes = b"f",
    kind: bytes = b"0",
    size: bytes | int = 0,
    mode: bytes | int = 0o644,
    mtime: bytes | int = 1_700_000_000,
    linkname: bytes = b"",
    magic: bytes = b"ustar\x0000",
    checksum: bytes | None = None,
) -> bytes:
    """One 512-byte header; a bytes argument is put in its field as is (a raw, possibly hostile
    value), an int is written as ustar octal. The checksum is computed unless given."""
    fields = [
        (0, 100, name),
        (100, 8, mode if isinstance(mode, bytes) else octal(mode, 8)),
        (108, 8, octal(0, 8)),
        (116, 8, octal(0, 8)),
        (124, 12, size if isinstance(size, bytes) else octal(size, 12)),
        (136, 12, mtime if isinstance(mtime, bytes) else octal(mtime, 12)),
        (156, 1, kind),
        (157, 100, linkname),
        (257, 8, magic),
    ]
    block = bytearray(BLOCK)
    for at, width, value in fields:
        assert len(value) <= width, (value, width)
        block[at : at + len(value)] = value
    block[148:156] = b" " * 8
    block[148:156] = checksum if checksum is not None else octal(sum(block), 7) + b" "
    return bytes(block)


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def pax(records: bytes, kind: bytes = b"x") -> bytes:
    """A pax header (local `x`, global `g`) carrying `records` as they are."""
    return header(b"PaxHeader/f", kind, len(records)) + padded(records)


def record(key: str, value: str) -> bytes:
    """One well-formed pax record (its length counts itself)."""
    body = f" {key}={value}\n".encode()
    length = len(body) + 1
    while len(str(length).encode()) + len(body) != length:
        length += 1
    return str(length).encode() + body


def member(name: str, data: bytes = b"", kind: bytes = b"0", linkname: bytes = b"") -> bytes:
    """A member; a name longer than the header's field travels in a pax record."""
    raw = name.encode()
    long = pax(record("path", name)) if len(raw) > 100 else b""
    return long + header(raw[:100], kind, len(data), linkname=linkname) + padded(data)


END = bytes(2 * BLOCK)


class Endless(io.RawIOBase):
    """`head`, then `unit` repeated for ever (or `times` times): a stream with no end, made on
    demand (never held whole)."""

    def __init__(self, head: bytes, unit: bytes, times: int | None = None) -> None:
        super().__init__()
        self._head, self._unit = head, unit
        self._left = None if times is None else times * len(unit)
        self.served = self._cycled = 0

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
        else:
            at = self._cycled % len(self._unit)
            count = size if self._left is None else min(size, self._left)
            data = (self._unit[at:] + self._unit * (count // len(self._unit) + 1))[:count]
            self._cycled += len(data)
            if self._left is not None:
                self._left -= len(data)
        self.served += len(data)
        return data


def artifact(tar: bytes, **declared: int) -> bytes:
    """A sound artifact (digest right) whose content is `tar`, compressed; `declared` sets the
    manifest's tree_size, files and entries. Its release id is RELEASE_ID."""
    payload = zstandard.ZstdCompressor().compress(tar)
    digest = "sha256:" + hashlib.sha256(payload).hexdigest()
    manifest = mf.Manifest(mf.FORMAT, RELEASE_ID, digest, len(payload), "zstd", **declared)  # type: ignore[arg-type]
    out = io.BytesIO()
    container.write(out, manifest, io.BytesIO(payload))
    return out.getvalue()


def bomb(head: bytes, zeros: int, **declared: int) -> bytes:
    """A sound artifact whose content is `head` then `zeros` zero bytes, compressed as it is
    made (the zeros are never held whole: gigabytes become a few hundred KiB)."""
    compressed = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(compressed, closefd=False) as sink:
        sink.write(head)
        block = bytes(1 << 20)
        for _ in range(zeros >> 20):
            sink.write(block)
    payload = compressed.getvalue()
    digest = "sha256:" + hashlib.sha256(payload).hexdigest()
    manifest = mf.Manifest(mf.FORMAT, RELEASE_ID, digest, len(payload), "zstd", **declared)  # type: ignore[arg-type]
    out = io.BytesIO()
    container.write(out, manifest, io.BytesIO(payload))
    return out.getvalue()


def rewrite(artifact: Path, out: Path, **changes: object) -> None:
    """A copy of `artifact` whose manifest says something else (payload and digest kept)."""
    with artifact.open("rb") as stream:
        checked = container.check(stream)
        stream.seek(checked.offset)
        payload = io.BytesIO(stream.read(checked.manifest.payload_size))
    with out.open("wb") as target:
        container.write(target, replace(checked.manifest, **changes), payload)  # type: ignore[arg-type]
