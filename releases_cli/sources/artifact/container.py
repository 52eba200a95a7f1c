"""The artifact file: an uncompressed tar of two members, the manifest first and then the
payload (the release tree as a zstd-compressed tar). `tar -xOf app.artifact
releases-artifact.json` shows what is inside without this tool.

Reading checks everything before a caller creates anything: the first block (a stream that is
no artifact is refused there), the manifest (size-capped, typed, its declared sizes within
bounds.py's ceilings), then the payload's size and SHA-256 against the manifest while its tree
is decompressed and checked within those sizes, then the end of the archive. A file that is
truncated, padded, crafted, or has an edited payload is refused with one line (exit 3).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from releases_cli.core.errors import InvalidInput, ReleasesError, SystemFailure
from releases_cli.sources import tarheader
from releases_cli.sources.artifact import bounds
from releases_cli.sources.artifact import manifest as mf
from releases_cli.sources.artifact.payload import scan_payload
from releases_cli.sources.tarheader import BadArchive

BLOCK = 512
CHUNK = 1 << 20
PAYLOAD = "release.tar.zst"
_OCTAL_MAX = 0o77777777777


@dataclass(frozen=True)
class Checked:
    """An artifact whose manifest and digest were verified: the payload starts at `offset`."""

    manifest: mf.Manifest
    offset: int


def write(out: IO[bytes], manifest: mf.Manifest, payload: IO[bytes]) -> None:
    """The archive to `out`: manifest member, then `payload` (read from its start), then the
    end-of-archive blocks."""
    body = mf.encode(manifest)
    out.write(_header(mf.NAME, len(body), manifest))
    out.write(body + bytes(-len(body) % BLOCK))
    out.write(_header(PAYLOAD, manifest.payload_size, manifest))
    payload.seek(0)
    copied = 0
    while chunk := payload.read(CHUNK):
        out.write(chunk)
        copied += len(chunk)
    if copied != manifest.payload_size:
        raise ReleasesError(
            f"internal error: payload is {copied} bytes, not {manifest.payload_size}"
        )
    out.write(bytes(-copied % BLOCK) + bytes(2 * BLOCK))
    out.flush()


def _header(name: str, size: int, manifest: mf.Manifest) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = int(manifest.built_at.timestamp()) if manifest.built_at else 0
    # One plain header per member: a size past ustar's 11 octal digits (8 GiB) is written in
    # GNU base-256, which every tar reads, rather than in a pax header the reader refuses.
    return info.tobuf(tarfile.GNU_FORMAT if size > _OCTAL_MAX else tarfile.PAX_FORMAT)


def check(
    stream: IO[bytes],
    spool: Callable[[int], IO[bytes]] | None = None,
    admit: Callable[[mf.Manifest], None] = lambda _manifest: None,
) -> Checked:
    """Verify the archive read from `stream` (at its start) to its end: refused from its
    first block when it is no artifact, then by `admit` (raising) from its manifest, its
    content read within what the manifest declares (bounds.py) and its tree checked as
    extraction will do. With `spool` (stdin, a pipe), the content is copied to `spool(size)`
    as it is read; the result's offset is then 0."""
    reader = _Reader(stream)
    manifest = _manifest(reader)
    admit(manifest)
    name, size = reader.member()
    if name != PAYLOAD or size != manifest.payload_size:
        raise InvalidInput(
            f"artifact content is {name!r} of {size} bytes; its manifest says {PAYLOAD!r} of "
            f"{manifest.payload_size}: refused"
        )
    offset = reader.offset
    content = _Content(reader.chunks(size), spool(size) if spool else None)
    try:
        totals = scan_payload(content, bounds.limits(manifest))
        refusal = None
    except BadArchive as error:
        content.copy = None  # read on only to tell damage (the digest) from a crafted tree
        refusal = error.message
    content.drain()
    if content.digest != manifest.digest:
        raise InvalidInput(
            f"artifact content does not match its digest {manifest.digest[:19]}...: it was "
            "changed or damaged after it was packed; refused"
        )
    if refusal is not None:
        raise InvalidInput(f"artifact content refused: {refusal}")
    bounds.require_declared(manifest, totals)
    reader.skip_padding(size)
    if reader.exactly(2 * BLOCK, "end marker") != bytes(2 * BLOCK) or stream.read(1):
        raise InvalidInput("artifact has more after its content than an end marker: refused")
    return Checked(manifest, 0 if spool else offset)


def _manifest(reader: _Reader) -> mf.Manifest:
    name, size = reader.member()
    if name != mf.NAME:
        raise InvalidInput(
            f"not a release artifact: its first member is {_shown(name)}, not {mf.NAME}"
        )
    if size > mf.CAP:
        raise InvalidInput(f"artifact manifest is {size} bytes, more than {mf.CAP}: refused")
    manifest = mf.parse(reader.exactly(size, "manifest"))
    reader.skip_padding(size)
    bounds.require_within(manifest)
    return manifest


class _Content:
    """The content's bytes as the scan reads them: hashed, and copied to `copy` if set."""

    def __init__(self, chunks: Iterator[bytes], copy: IO[bytes] | None) -> None:
        self._chunks, self.copy = chunks, copy
        self._hash, self._held, self._at = hashlib.sha256(), b"", 0

    def read(self, count: int = -1) -> bytes:
        if self._at >= len(self._held):
            self._held, self._at = next(self._chunks, b""), 0
            self._hash.update(self._held)
            if self.copy is not None:
                _write(self.copy, self._held)
        end = len(self._held) if count < 0 else self._at + count
        data = self._held[self._at : end]
        self._at += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        return f"sha256:{self._hash.hexdigest()}"


def _write(out: IO[bytes], data: bytes) -> None:
    try:
        out.write(data)
    except OSError as error:
        raise SystemFailure.of(error, "receiving the artifact") from None


class _Reader:
    """Exact reads from a stream; running out is the archive being truncated (exit 3)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.offset = 0

    def exactly(self, count: int, what: str) -> bytes:
        return b"".join(self.chunks(count, what))

    def chunks(self, count: int, what: str = "content") -> Iterator[bytes]:
        left = count
        while left:
            chunk = self.stream.read(min(left, CHUNK))
            if not chunk:
                raise InvalidInput(
                    f"artifact is truncated: it ends inside its {what} "
                    f"({count - left} of {count} bytes); refused"
                )
            self.offset += len(chunk)
            left -= len(chunk)
            yield chunk

    def skip_padding(self, size: int) -> None:
        self.exactly(-size % BLOCK, "padding")

    def member(self) -> tuple[str, int]:
        """The next member's name and size: a ustar header of a regular file (the first block
        read decides whether the stream is an artifact at all)."""
        header = self.exactly(BLOCK, "header")
        try:
            tarheader.check_block(header)
            size = tarheader.data_size(header, {})
        except BadArchive as error:
            raise InvalidInput(f"not a release artifact: {error.message}") from None
        if tarheader.kind_of(header) not in tarheader.FILE:  # pax: only our two fixed names
            raise InvalidInput("not a release artifact (a member that is not a plain file)")
        return header[:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape"), size


def _shown(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def payload_reader(stream: IO[bytes], checked: Checked) -> _Limited:
    """The payload bytes of a checked artifact, hashed again as they are read."""
    stream.seek(checked.offset, os.SEEK_SET)
    return _Limited(stream, checked.manifest.payload_size)


class _Limited:
    """Reads at most `size` bytes of `stream`, hashing them (`digest` once all were read)."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.stream, self.left = stream, size
        self.hash = hashlib.sha256()

    def read(self, count: int = -1) -> bytes:
        count = self.left if count < 0 else min(count, self.left)
        data = self.stream.read(count) if count else b""
        self.left -= len(data)
        self.hash.update(data)
        return data

    @property
    def digest(self) -> str:
        return f"sha256:{self.hash.hexdigest()}"
