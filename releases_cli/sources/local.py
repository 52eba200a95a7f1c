"""A local directory as a source: copied into the release (git sources live in sources/git/).

The copy leaves out `.git`, `node_modules` and `.next` (at any depth): dependencies and build
output are made per release, and the repository metadata is never served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from releases_cli.core.errors import InvalidInput, NotFound, SourceFailed
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import SourceInfo
from releases_cli.core.tree import copy_tree


@dataclass(frozen=True)
class LocalSource:
    """A directory on this machine."""

    path: Path

    def describe(self) -> SourceInfo:
        return {"type": "dir", "path": str(self.path.resolve())}

    def check(self, deploy_root: Path) -> None:
        """Refuse a missing source, or one that would copy the deploy root into itself."""
        if not self.path.is_dir():
            raise NotFound(f"source directory {self.path} does not exist")
        src = self.path.resolve()
        dst = deploy_root.resolve()
        if src == dst or src in dst.parents:
            raise InvalidInput(
                f"source {self.path} contains the deploy root {deploy_root}; "
                "point --source at the app's directory, outside the deploy root"
            )

    def prepare(self, root: DeployRoot, report: Callable[[str], None]) -> str | None:
        """Nothing to fetch; a directory has no revision to compare with the live one."""
        return None

    def export(self, dest: Path) -> SourceInfo:
        """Copy the tree into `dest` (which must already exist and be empty)."""
        try:
            copy_tree(self.path, dest)
        except OSError as error:
            raise SourceFailed(f"copying {self.path} failed: {error}") from error
        return {}
