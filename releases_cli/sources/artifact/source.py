"""A release artifact (`releases pack`'s output, a file or stdin) as the source of a release.

- `check` (before the lock, before anything is made): the whole archive is read and verified
  (manifest, payload size and digest, the end marker, and the runtime when it carries native
  modules). Stdin is first spooled to an unnamed temporary file (O_TMPFILE: nothing is left
  behind by a crash) in `.releases/`, so a truncated stream is refused before a release
  directory exists.
- `export`: the payload extracted by the path-safe tar reader, its digest checked again while
  it is read (a file changed between the two reads fails the release, which stays not live).

The release gets the id the artifact was built as (`fixed_id`): Next.js bakes it into the
build as NEXT_DEPLOYMENT_ID.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from releases_cli.core.errors import InvalidInput, NotFound, SourceFailed, SystemFailure
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import SourceInfo
from releases_cli.core.report import Report
from releases_cli.core.statedir import STATE_DIR
from releases_cli.sources.artifact import container
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
        sound or not runnable here."""
        if self._checked is not None:
            return
        stream = self._open(deploy_root)
        try:
            checked = container.check(stream)
            if checked.manifest.native_count:
                mf.require_runnable(checked.manifest, mf.this_runtime())
        except BaseException:
            stream.close()
            raise
        self._file, self._checked = stream, checked

    def _open(self, deploy_root: Path) -> IO[bytes]:
        """The artifact as a seekable file: a regular file as it is; stdin, a pipe or a
        process substitution (`<(curl ...)`) spooled first, since it is read twice."""
        if self.location == STDIN:
            return _spooled(sys.stdin.buffer, deploy_root)
        try:
            given = open(self.location, "rb")  # noqa: SIM115 (kept open until export)
        except FileNotFoundError:
            raise NotFound(f"artifact {self.location} does not exist") from None
        except OSError as error:
            raise InvalidInput(f"cannot read artifact {self.location}: {error.strerror}") from None
        if stat.S_ISREG(os.fstat(given.fileno()).st_mode):
            return given
        with given:
            return _spooled(given, deploy_root)

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
            extract_payload(payload, dest)
        finally:
            self._file.close()  # read once: a second export is an internal error
        if payload.digest != self.manifest.digest:
            raise SourceFailed("the artifact changed while it was extracted; deploy it again")
        return self.manifest.source_info()


def _spooled(stream: IO[bytes], deploy_root: Path) -> IO[bytes]:
    """A copy of `stream` in an unnamed temporary file (gone with the process, however it
    ends), at its start."""
    spool = tempfile.TemporaryFile(dir=_spool_dir(deploy_root))  # noqa: SIM115 (returned)
    try:
        shutil.copyfileobj(stream, spool, container.CHUNK)
    except OSError as error:
        spool.close()
        raise SystemFailure.of(error, "reading the artifact") from None
    spool.seek(0)
    return spool


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
