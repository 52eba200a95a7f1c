"""The tar reader (sources/tarstream.py, tarheader.py) and the artifact container around it
on hostile bytes written by hand: every header either parses or is refused with BadArchive
(one line), never a hang, an overflow or a read without bound; with Limits, extraction stops
at the first excess. Hypothesis varies header fields, pax data and any byte of an artifact."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
import zstandard
from hostile import no_hang
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tarbytes import END, RELEASE_ID, Endless, artifact, header, member, pax, record

from releases_cli.core.errors import InvalidInput
from releases_cli.sources import tarheader, tarstream
from releases_cli.sources.artifact import container
from releases_cli.sources.artifact import manifest as mf
from releases_cli.sources.tarheader import BadArchive
from releases_cli.sources.tarstream import Limits

BOUNDED = Limits(bytes=1 << 20, files=10, entries=20, names=4096, stream=4 << 20, origin="test")


def scan(data: bytes, limits: Limits = BOUNDED) -> tarstream.Totals:
    with no_hang():
        return tarstream.scan(io.BytesIO(data), limits)


def refused(data: bytes, match: str, limits: Limits = BOUNDED) -> None:
    with no_hang(), pytest.raises(BadArchive, match=match) as caught:
        tarstream.scan(io.BytesIO(data), limits)
    assert "\n" not in str(caught.value)


def test_a_handmade_archive_is_read_and_counted() -> None:
    """The baseline the refusals below differ from: dirs, files, a link, pax paths."""
    tar = (
        member("d/", kind=b"5")
        + member("d/a", b"hello")
        + pax(record("path", "d/" + "n" * 150))
        + member("ignored", b"x" * 600)
        + member("d/l", kind=b"2", linkname=b"/etc/passwd")
        + END
    )
    totals = scan(tar)
    assert (totals.files, totals.entries, totals.bytes) == (2, 4, 605)


@pytest.mark.parametrize(
    ("records", "match"),
    [
        pytest.param(b"0 path=x\n", "malformed pax record", id="zero-length"),
        pytest.param(b"-5 path=x\n", "malformed pax record", id="negative-length"),
        pytest.param(b"3 path=x\n", "malformed pax record", id="shorter-than-its-text"),
        pytest.param(b"99 path=x\n", "malformed pax record", id="past-the-header"),
        pytest.param(b"9 pathxx\n", "malformed pax record", id="no-equals"),
        pytest.param(b"path=x\n", "malformed pax record", id="no-length"),
        pytest.param(b"0x9 path=x\n", "malformed pax record", id="hex-length"),
        pytest.param(record("size", "-1"), "bad size", id="negative-size"),
        pytest.param(record("size", "1e9"), "bad size", id="float-size"),
        pytest.param(record("size", str(1 << 42)), "claims", id="four-terabytes"),
        pytest.param(record("size", "9" * 30), "bad size", id="thirty-digit-size"),
        pytest.param(record("mtime", "1e400"), "bad mtime", id="mtime-inf"),
        pytest.param(record("mtime", "nan"), "bad mtime", id="mtime-nan"),
        pytest.param(record("mtime", "9" * 20), "out of range", id="mtime-far-future"),
        pytest.param(record("mtime", "-" + "9" * 11), "out of range", id="mtime-far-past"),
        pytest.param(record("path", "a" * 5000), "longer than 4096", id="path-5000-bytes"),
        pytest.param(record("path", "a\0b"), "has NUL", id="path-nul"),
    ],
)
def test_hostile_pax_records_are_refused(records: bytes, match: str) -> None:
    """A zero or negative record length (which looped for ever), sizes and mtimes no file has,
    paths longer than PATH_MAX: refused, with the stream never read past the header."""
    refused(pax(records) + member("f", b"x") + END, match)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        pytest.param({"size": b"-0000000001\0"}, "bad size", id="octal-negative"),
        pytest.param({"size": b"0o17\0"}, "bad size", id="python-octal-prefix"),
        pytest.param({"size": b"1_000\0"}, "bad size", id="underscores"),
        pytest.param({"size": b"\x80" + (1 << 45).to_bytes(11, "big")}, "claims", id="b256-32T"),
        pytest.param({"size": b"\xff" * 12}, "claims", id="base256-negative"),
        pytest.param({"mtime": b"\x80" + (1 << 80).to_bytes(11, "big")}, "out of range", id="m"),
        pytest.param({"mode": b"99999\0"}, "bad mode", id="mode-not-octal"),
        pytest.param({"magic": b"ustaR\x0000"}, "not a ustar", id="no-magic"),
        pytest.param({"checksum": b"0000000\0"}, "wrong checksum", id="bad-checksum"),
    ],
)
def test_hostile_header_numbers_are_refused(fields: dict[str, bytes], match: str) -> None:
    """Numbers Python's int() would take (`-1`, `0o17`, `1_000`), base-256 terabytes and
    negatives, an mtime beyond any time_t: refused, never an overflow or a negative size."""
    refused(header(b"f", **fields) + bytes(512) + END, match)


def test_base256_numbers_in_range_are_read() -> None:
    """GNU tar's base-256 numbers are valid tar: read, not refused."""
    size = b"\x80" + (5).to_bytes(11, "big")
    totals = scan(header(b"f", size=size) + b"hello".ljust(512, b"\0") + END)
    assert totals.bytes == 5


@pytest.mark.parametrize(
    ("data", "match"),
    [
        pytest.param(member("f", b"hello")[:300], "ended early", id="cut-in-header"),
        pytest.param(header(b"f", size=4096) + bytes(100), "ended early", id="cut-in-data"),
        pytest.param(pax(record("path", "p"))[:700], "ended early", id="cut-in-pax"),
        pytest.param(header(b"f", b"x", 1 << 31), "pax header of", id="pax-of-2-GiB"),
        pytest.param(member("f") + END + b"junk", "after its end", id="data-after-end"),
    ],
)
def test_truncated_and_oversized_streams_are_refused(data: bytes, match: str) -> None:
    refused(data, match)


def test_endless_zero_blocks_after_the_end_stop_at_the_stream_limit() -> None:
    """Zeros after the end-of-archive are tar padding, but a stream of them for ever (a
    decompression bomb) is read only up to the stream limit."""
    stream = Endless(member("f", b"x") + END, bytes(1 << 16))
    with no_hang(), pytest.raises(BadArchive, match="runs past"):
        tarstream.scan(stream, BOUNDED)
    assert stream.served <= BOUNDED.stream + (1 << 20)


def test_endless_pax_headers_stop_at_the_stream_limit() -> None:
    """Pax headers are not entries, so only the stream limit stops an endless run of them."""
    stream = Endless(b"", pax(record("comment", "x" * 400)))
    with no_hang(), pytest.raises(BadArchive, match="runs past"):
        tarstream.scan(stream, BOUNDED)


@pytest.mark.parametrize(
    ("tar", "match"),
    [
        pytest.param(member("big", b"x" * 600), "more than 500 bytes of data", id="bytes"),
        pytest.param(member("a") + member("b") + member("c"), "more than 2 files", id="files"),
        pytest.param(b"".join(member(f"{n}/", kind=b"5") for n in range(4)), "3 entries", id="e"),
    ],
)
def test_declared_limits_stop_the_read(tar: bytes, match: str) -> None:
    limits = Limits(bytes=500, files=2, entries=3, names=4096, stream=1 << 20, origin="declared")
    refused(tar + END, match + r".* \(declared\)", limits)


@pytest.mark.parametrize(
    ("tar", "match"),
    [
        pytest.param(member("x") + member("x"), "appears twice", id="file-twice"),
        pytest.param(member("x/", kind=b"5") + member("x"), "appears twice", id="dir-then-file"),
        pytest.param(member("a/" * 257, kind=b"5"), "deeper than 256", id="depth-257"),
        pytest.param(member("n" * 256), "longer than 255", id="component-256"),
        pytest.param(member("../up"), "not a plain relative path", id="dotdot"),
        pytest.param(member("l", kind=b"2", linkname=b"d") + member("l/x"), "directory is not"),
    ],
)
def test_unsafe_paths_are_refused_by_the_scan(tar: bytes, match: str) -> None:
    refused(tar + END, match)


def test_extraction_stops_at_the_byte_limit_with_nothing_past_it(tmp_path: Path) -> None:
    """A member that would take the tree past its declared bytes is refused before any of its
    data is written: the disk holds at most the limit, not what the header claims."""
    limits = Limits(bytes=1 << 20, files=10, entries=10, names=4096, stream=64 << 20)
    tar = member("a", b"a" * (1 << 19)) + header(b"b", size=8 << 20)
    stream = Endless(tar, b"b" * (1 << 16), times=(8 << 20) >> 16)
    with no_hang(), pytest.raises(BadArchive, match="more than 1048576 bytes of data"):
        tarstream.extract_stream(stream, tmp_path, limits=limits)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert stream.served < 2 << 20


# Hypothesis: any bytes in a header's fields, any pax record data.


_FIELDS = {"size": 12, "mtime": 12, "mode": 8, "name": 100, "linkname": 100}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.sampled_from(sorted(_FIELDS)),
    raw=st.binary(max_size=12),
    kind=st.sampled_from([b"0", b"5", b"2", b"x", b"g", b"1", b"\0", b"K"]),
    tail=st.binary(max_size=2048),
)
def test_any_header_field_parses_or_is_refused(
    field: str, raw: bytes, kind: bytes, tail: bytes
) -> None:
    """Whatever one field holds, with whatever follows: a result or BadArchive, nothing else,
    and no read without bound."""
    block = header(kind=kind, **{field: raw[: _FIELDS[field]]})
    try:
        scan(block + tail)
    except BadArchive as error:
        assert "\n" not in str(error)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600) | st.lists(st.binary(max_size=30), max_size=8).map(b" ".join))
def test_any_pax_data_parses_or_is_refused(data: bytes) -> None:
    try:
        records = tarheader.pax_records(data)
    except BadArchive:
        return
    assert all(isinstance(key, str) for key in records)


# The container around the tree (sources/artifact/container.py), in process.


def _sound(payload: bytes, **declared: int) -> bytes:
    """An artifact whose content is `payload` as it is (not compressed here), digest right."""
    digest = "sha256:" + hashlib.sha256(payload).hexdigest()
    manifest = mf.Manifest(mf.FORMAT, RELEASE_ID, digest, len(payload), "zstd", **declared)  # type: ignore[arg-type]
    out = io.BytesIO()
    container.write(out, manifest, io.BytesIO(payload))
    return out.getvalue()


def _huge_window(tar: bytes) -> bytes:
    """`tar` in a zstd frame that asks the decoder for a 1 GiB window."""
    params = zstandard.ZstdCompressionParameters.from_level(
        3, window_log=30, write_content_size=False
    )
    out = io.BytesIO()
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(
        out, closefd=False
    ) as sink:
        sink.write(tar)
    return out.getvalue()


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        pytest.param(b"not zstd at all" * 40, "cannot be decompressed", id="not-zstd"),
        pytest.param(_huge_window(member("f") + END), "too much memory", id="1-GiB-window"),
    ],
)
def test_content_that_cannot_be_decompressed_within_bounds_is_refused(
    payload: bytes, said: str
) -> None:
    with no_hang(), pytest.raises(InvalidInput, match=said):
        container.check(io.BytesIO(_sound(payload)))


_VALID = artifact(member("d/", kind=b"5") + member("d/f", b"data") + END)
_COMPRESSION_AT = _VALID.index(b'"zstd"') + 1  # the manifest's word for the content's coding
_ID_AT = _VALID.index(RELEASE_ID.encode()) + 15  # the last digit of the release id


def test_a_manifest_packed_without_its_checksum_is_still_read() -> None:
    """Artifacts packed before manifests carried a checksum stay deployable: the payload's
    digest is checked as before."""
    checked = container.check(io.BytesIO(_VALID))
    body = mf.encode(checked.manifest)
    plain = json.loads(body)
    del plain[mf.CHECK]
    assert mf.parse(json.dumps(plain).encode()) == checked.manifest
    plain["id"] = "20261101T000001Z"
    assert mf.parse(json.dumps(plain).encode()).id == "20261101T000001Z"  # nothing to check it by
    with pytest.raises(InvalidInput, match="changed after it was packed"):
        mf.parse(body.replace(RELEASE_ID.encode(), b"20261101T000001Z"))


@settings(max_examples=200, deadline=None)
@given(at=st.integers(0, len(_VALID) - 1), value=st.integers(0, 255))
# The manifest is not under the payload's digest: its own checksum catches these.
@example(at=_COMPRESSION_AT, value=ord(" "))
@example(at=_ID_AT, value=ord("1"))
def test_any_byte_changed_in_an_artifact_is_refused_in_one_line(at: int, value: int) -> None:
    """One byte of a sound artifact changed anywhere (headers, manifest, content, end marker):
    refused with InvalidInput in one line, or (the byte unchanged, or in padding nothing
    reads) still the same artifact; never another exception."""
    data = bytearray(_VALID)
    data[at] = value
    try:
        with no_hang():
            checked = container.check(io.BytesIO(bytes(data)))
    except InvalidInput as error:
        assert "\n" not in error.message
    else:
        assert checked.manifest == container.check(io.BytesIO(_VALID)).manifest
