"""`releases init`: the deploy root's layout, and the disk space kept back for prune."""

from __future__ import annotations

from typing import TYPE_CHECKING

from releases_cli.core import reserve

if TYPE_CHECKING:
    from pathlib import Path

    from releases_cli.core.layout import DeployRoot


def init(root: DeployRoot) -> list[Path]:
    """Create what is missing of the layout (the root directory too) and the reserve; the
    directories created, in order."""
    created = root.ensure_layout(make_root=True)
    reserve.ensure(root)
    return created
