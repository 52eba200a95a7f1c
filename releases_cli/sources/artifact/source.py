"""A release artifact (`releases pack`'s output, a file or stdin) as the source of a release.

- `check` (before the lock, before anything is made): the whole archive is read and verified
  (container.py: manifest, payload size and digest, its tree scanned within the declared
  sizes, the end marker; then the runtime when it carries native modules, and room on the
  disk for the tree). Stdin or a pipe is copied, while it is checked and only once its
  manifest was read, to an unnamed temporary file (O_TMPFILE: nothing is left behind by a
  crash) in `.releases/`, so what is refused leaves no release directory and no spool.
- `export`: the payload extracted by the path-safe tar reader within the same limits, its
  digest checked again while it is read (a file changed between the two reads fails the
  release, which stays not live).

The release gets the id the artifact was built as (`fixed_id`): Next.js bakes it into the
build as NEXT_DEPLOYMENT_ID.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from releases_cli.core import reserve
from releases_cli.core.errors import InvalidInput, NotFound, SourceFailed, SystemFailure
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import SourceInfo
from releases_cli.core.report import Report
from releases_cli.core.statedir import STATE_DIR
from releases_cli.core.units import human_size
from releases_cli.sources.artifact import bounds, container
from releases_cli.sources.artifact import manifest as mf
from releases_cli.sources.artifact.payload import extract_payload

STDIN = "-"


@dataclass
class ArtifactSource:
    """An artifact file, or `-` for standard input."""

    location: str
    _file: IO[bytes] | None = field(default=None, init=False, repr=False, compare=False)
    _checked: container.Checked | None = field(default=None, init=False, repr=False)

    @property
    def manifest(self) -> mf.Manifest:
        if self._checked is None:
            raise SourceFailed("internal error: artifact used before it was checked")
        return self._checked.manifest

    def describe(self) -> SourceInfo:
        if self._checked is None:
            return {"type": "artifact", "path": self._shown}
        return self.manifest.source_info()

    @property
    def _shown(self) -> str:
        return "stdin" if self.location == STDIN else str(Path(self.location).resolve())

    def check(self, deploy_root: Path) -> None:
        """Read and verify the whole artifact (once); InvalidInput (exit 3) when it is not
        sound or not runnable here, SystemFailure (exit 11) when its tree cannot fit."""
        if self._checked is not None:
            return
        given = self._open()
        regular = given is not sys.stdin.buffer and stat.S_ISREG(os.fstat(given.fileno()).st_mode)
        spool = None if regular else _Spool(deploy_root)
        try:
            checked = container.check(
                given, None if spool is None else spool.create, _admit(deploy_root)
            )
        except BaseException:
            if spool is not None:
                spool.close()
            if given is not sys.stdin.buffer:
                given.close()
            raise
        if spool is not None and given is not sys.stdin.buffer:
            given.close()  # a pipe's path: read to its end, the spool holds the content
        self._file = given if spool is None else spool.file
        self._checked = checked

    def _open(self) -> IO[bytes]:
        """Stdin, or the file at `location` (a regular file, or a pipe such as `<(curl ...)`:
        then spooled while it is checked, since the content is read twice)."""
        if self.location == STDIN:
            return sys.stdin.buffer
        try:
            return open(self.location, "rb")  # kept open until export
        except FileNotFoundError:
            raise NotFound(f"artifact {self.location} does not exist") from None
        except OSError as error:
            raise InvalidInput(f"cannot read artifact {self.location}: {error.strerror}") from None

    def prepare(self, root: DeployRoot, report: Report) -> str | None:
        """Verified in `check`; the revision it was built from (None for a directory)."""
        self.check(root.path)
        return self.manifest.source.get("revision")

    def fixed_id(self) -> str:
        return self.manifest.id

    def export(self, dest: Path) -> SourceInfo:
        if self._file is None or self._checked is None:
            raise SourceFailed("internal error: artifact exported before it was checked")
        try:
            payload = container.payload_reader(self._file, self._checked)
            extract_payload(payload, dest, bounds.limits(self.manifest))
        finally:
            self._file.close()  # read once: a second export is an internal error
        if payload.digest != self.manifest.digest:
            raise SourceFailed("the artifact changed while it was extracted; deploy it again")
        return self.manifest.source_info()


def _admit(deploy_root: Path) -> Callable[[mf.Manifest], None]:
    """What refuses an artifact from its manifest, before its content is read: native modules
    built for another runtime (exit 3), a tree that cannot fit on the disk (exit 11)."""

    def admit(manifest: mf.Manifest) -> None:
        if manifest.native_count:
            mf.require_runnable(manifest, mf.this_runtime())
        _require_room(deploy_root, manifest.tree_size or 0, "its tree")

    return admit


class _Spool:
    """An unnamed temporary file (gone with the process, however it ends) for the content of
    an artifact read from a pipe, created only once its manifest was read and checked, and
    only when its declared content fits on the disk."""

    def __init__(self, deploy_root: Path) -> None:
        self._where = _spool_dir(deploy_root)
        self.file: IO[bytes] | None = None

    def create(self, size: int) -> IO[bytes]:
        _require_room(Path(self._where or tempfile.gettempdir()), size, "its content")
        try:
            self.file = tempfile.TemporaryFile(dir=self._where)  # noqa: SIM115 (returned)
        except OSError as error:
            raise SystemFailure.of(error, "receiving the artifact") from None
        return self.file

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _require_room(where: Path, size: int, what: str) -> None:
    """Refuse (exit 11) what cannot fit on `where`'s disk, before any of it is written."""
    free = reserve.free_bytes(where)
    if free is not None and size > free:
        raise SystemFailure(
            f"the artifact needs {human_size(size)} for {what}, {human_size(free)} is free on "
            f"{where}; free space (e.g. `releases prune`) and retry"
        )


def _spool_dir(deploy_root: Path) -> str | None:
    """`.releases/` when it is a real directory (same disk as the release), else the root, else
    the system's temporary directory. Never through a link."""
    for where in (deploy_root / STATE_DIR, deploy_root):
        try:
            if stat.S_ISDIR(os.lstat(where).st_mode) and os.access(where, os.W_OK):
                return str(where)
        except OSError:
            continue
    return None
