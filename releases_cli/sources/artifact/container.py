"""The artifact file: an uncompressed tar of two members, the manifest first and then the
payload (the release tree as a zstd-compressed tar). `tar -xOf app.artifact
releases-artifact.json` shows what is inside without this tool.

Reading checks everything before a caller creates anything: the manifest (size-capped, typed),
then the payload's size and SHA-256 against the manifest, then the end of the archive. A file
that is truncated, padded, or has an edited payload is refused with one line (exit 3).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from releases_cli.core.errors import InvalidInput, ReleasesError
from releases_cli.sources.artifact import manifest as mf

BLOCK = 512
CHUNK = 1 << 20
PAYLOAD = "release.tar.zst"


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
    return info.tobuf(tarfile.PAX_FORMAT)


def check(stream: IO[bytes]) -> Checked:
    """Verify the archive read from `stream` (a file at its start) to its end."""
    reader = _Reader(stream)
    name, size = reader.member()
    if name != mf.NAME:
        raise InvalidInput(f"not a release artifact: its first member is {name!r}, not {mf.NAME}")
    if size > mf.CAP:
        raise InvalidInput(f"artifact manifest is {size} bytes, more than {mf.CAP}: refused")
    manifest = mf.parse(reader.exactly(size, "manifest"))
    reader.skip_padding(size)
    name, size = reader.member()
    if name != PAYLOAD or size != manifest.payload_size:
        raise InvalidInput(
            f"artifact content is {name!r} of {size} bytes; its manifest says {PAYLOAD!r} of "
            f"{manifest.payload_size}: refused"
        )
    offset = reader.offset
    digest = hashlib.sha256()
    for chunk in reader.chunks(size):
        digest.update(chunk)
    if f"sha256:{digest.hexdigest()}" != manifest.digest:
        raise InvalidInput(
            f"artifact content does not match its digest {manifest.digest[:19]}...: it was "
            "changed or damaged after it was packed; refused"
        )
    reader.skip_padding(size)
    if reader.exactly(2 * BLOCK, "end marker") != bytes(2 * BLOCK) or stream.read(1):
        raise InvalidInput("artifact has more after its content than an end marker: refused")
    return Checked(manifest, offset)


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
        header = self.exactly(BLOCK, "header")
        try:
            info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
        except tarfile.HeaderError as error:
            raise InvalidInput(f"not a release artifact (a broken tar header: {error})") from None
        if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE):  # pax: only our two fixed names
            raise InvalidInput("not a release artifact (unexpected pax header)")
        return info.name, info.size


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
