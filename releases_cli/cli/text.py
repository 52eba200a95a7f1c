"""The one table layout of the CLI (`list`, `history`) and the one way a long cell is clipped."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart, as wide as their widest cell; no trailing blanks."""
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def clip(text: str, width: int | None) -> str:
    """`text`, cut to `width` characters with an ellipsis when longer (None: never cut)."""
    return text if width is None or len(text) <= width else text[: width - 1] + "…"
