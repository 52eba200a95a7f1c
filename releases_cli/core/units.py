"""The one size formatter: what `list`, `doctor` and the deploy's notes show for a byte count.

Binary units (a release is measured in blocks and files, not in marketing megabytes), one
decimal, so columns of sizes compare at a glance: 512 B, 4.0 KiB, 1.2 MiB, 3.4 GiB.
"""

from __future__ import annotations

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value, unit = size / 1024, 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{value:.1f} {_UNITS[unit]}"
