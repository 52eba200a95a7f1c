"""How text reaches the terminal: the one escaping of untrusted characters, the one table
layout of the CLI (`list`, `history`) and the one way a long cell is clipped.

Messages, commit subjects, authors, manifest fields and paths come from releases, artifacts
and people: a control character in one (an ANSI or OSC escape, CR, BEL, a bidi override) would
reach the operator's terminal and act there. `guard` wraps stdout and stderr for the whole
command, so nothing written through them can carry one; `shown` also escapes the line breaks
and tabs of a one-line field. `--json` output is ASCII (json.dumps) and passes unchanged.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
from collections.abc import Sequence
from typing import TextIO

# C0 and C1 controls, DEL, the bidi marks, embeddings, overrides and isolates, the Unicode line
# and paragraph separators, and lone surrogates (bytes that were not UTF-8, surrogateescape'd).
_OTHERS = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_ONE_LINE = re.compile(f"[\x00-\x1f{_OTHERS}]")
_MULTI_LINE = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHERS}]")  # keeps \t and \n
_SGR = re.compile(r"\x1b\[[0-9;]*m")  # a colour or text style, nothing else
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str) -> str:
    """`text` for one line of a terminal: every control character, line break and bidi mark
    written as a visible escape (`\\x1b`, `\\n`, `\\u202e`). Escaping twice changes nothing."""
    return _ONE_LINE.sub(_escape, text)


def shown_lines(text: str) -> str:
    """`text` for a terminal, its line breaks and tabs kept: everything else `shown` escapes."""
    return _MULTI_LINE.sub(_escape, text)


def with_colours(text: str) -> str:
    """Command output for a terminal: its colours (SGR) kept, every other control character
    or escape (an OSC 52 clipboard write, a title, a cursor move) shown escaped."""
    kept = _SGR.findall(text)
    parts = [shown_lines(part) for part in _SGR.split(text)]
    return "".join(p + k for p, k in zip(parts, [*kept, ""], strict=True))


class TerminalLog:
    """A build log's bytes for a terminal, chunk by chunk (a character split between chunks is
    decoded whole): `with_colours` of the text, bytes that are not UTF-8 shown as `\\xNN`."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")

    def feed(self, chunk: bytes) -> bytes:
        return with_colours(self._decoder.decode(chunk)).encode("utf-8", "surrogateescape")


class Guarded(io.TextIOBase):
    """A text stream that writes `shown_lines(text)` to the stream it wraps. `raw` is that
    stream, for the one writer that sends escape codes of its own (the terminal progress, which
    escapes what it shows itself)."""

    def __init__(self, raw: TextIO) -> None:
        super().__init__()
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(shown_lines(text))
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.raw.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.raw.errors

    @property
    def buffer(self) -> object:
        """Bytes written here (an artifact on stdout, a log) are the caller's to make safe."""
        return self.raw.buffer


def guard(stream: TextIO) -> TextIO:
    """`stream` behind a Guarded (once)."""
    return stream if isinstance(stream, Guarded) else Guarded(stream)  # type: ignore[return-value]


def unguarded(stream: TextIO) -> TextIO:
    """The stream a Guarded wraps (the stream itself when not guarded)."""
    return stream.raw if isinstance(stream, Guarded) else stream


class OneLineFormatter(logging.Formatter):
    """A log record's message on one line: a warning quoting a path with a line break in it
    cannot print a line of its own (a traceback, with --verbose, keeps its lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = shown(record.message)
        return super().formatMessage(record)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart, as wide as their widest cell; no trailing blanks.
    Every cell is `shown`: a line break in one cannot start a fake row."""
    lines = [list(headers), *([shown(cell) for cell in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def clip(text: str, width: int | None) -> str:
    """`text` `shown`, cut to `width` characters with an ellipsis when longer (None: never)."""
    text = shown(text)
    return text if width is None or len(text) <= width else text[: width - 1] + "…"
