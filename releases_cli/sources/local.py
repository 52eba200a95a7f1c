"""A local directory as a source: copied into the release (git sources live in sources/git/).

The copy leaves out `.git`, `node_modules` and `.next` (at any depth): dependencies and build
output are made per release, and the repository metadata is never served. Symlinks are copied
as symlinks and never followed (core/tree.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from releases_cli.core.errors import InvalidInput, NotFound, SourceFailed
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import SourceInfo
from releases_cli.core.tree import copy_tree, overlap

OVERLAP_WORDS = {"is": "is", "contains": "contains", "inside": "is inside"}


@dataclass(frozen=True)
class LocalSource:
    """A directory on this machine."""

    path: Path

    def describe(self) -> SourceInfo:
        return {"type": "dir", "path": str(self.path.resolve())}

    def check(self, deploy_root: Path) -> None:
        """Refuse a missing source, or one that overlaps the deploy root: a source containing
        the root would copy the root into itself, one inside it (`root/releases`, a release,
        `shared/`) would copy releases into a release and grow with every deploy."""
        if not self.path.is_dir():
            raise NotFound(f"source directory {self.path} does not exist")
        how = overlap(self.path, deploy_root)
        if how is not None:
            raise InvalidInput(
                f"source {self.path} {OVERLAP_WORDS[how]} the deploy root {deploy_root}; "
                "point --source at the app's directory, outside the deploy root"
            )

    def prepare(self, root: DeployRoot, report: Callable[[str], None]) -> str | None:
        """Nothing to fetch; a directory has no revision to compare with the live one."""
        return None

    def fixed_id(self) -> None:
        return None

    def export(self, dest: Path) -> SourceInfo:
        """Copy the tree into `dest` (which must already exist and be empty)."""
        try:
            copy_tree(self.path, dest)
        except OSError as error:
            raise SourceFailed(f"copying {self.path} failed: {error}") from error
        return {}
