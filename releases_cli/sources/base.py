"""The protocol every source of a release's code implements (directory, git, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import SourceInfo
from releases_cli.core.report import Report


class Source(Protocol):
    """Where a release's code comes from (local directory, git mirror, ...)."""

    def describe(self) -> SourceInfo: ...
    def check(self, deploy_root: Path) -> None: ...
    # Under the lock, before a release directory exists: fetch/resolve what export will write.
    # Returns the revision it will deploy (None when the source has no revision, e.g. a dir).
    def prepare(self, root: DeployRoot, report: Report) -> str | None: ...
    # The release id the code was built as (an artifact), else None: a new one is made.
    def fixed_id(self) -> str | None: ...
    # What only the export knows (a commit's subject), merged into describe()'s facts.
    def export(self, dest: Path) -> SourceInfo: ...
