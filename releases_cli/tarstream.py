"""Extract the tar stream of `git archive` into a release directory, safely and in one pass.

Streaming (no temporary archive on disk), and stricter than `tar -x`: every entry must be a
relative path without `..`, inside a directory this extraction created itself, so nothing can be
written outside the release or through a symlink. Only directories, regular files and symlinks
are made (all `git archive` produces); modes keep the executable bit (the umask applies, as
with `tar -x` run by a normal user) and mtimes are the commit time, as `git archive` sets them.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
from pathlib import Path
from typing import IO

from releases_cli import faults
from releases_cli.errors import SourceFailed

_CHUNK = 1 << 20


def extract_stream(stream: IO[bytes], dest: Path) -> int:
    """Extract the uncompressed tar read from `stream` into the existing directory `dest`.

    Returns the number of regular files written. Raises SourceFailed on an unsafe or broken
    archive (the caller marks the release failed).
    """
    made_dirs: dict[str, int] = {"": 0}  # relative dir -> mtime, so mtimes are set last
    files = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                name = _safe_name(member.name, made_dirs)
                target = os.path.join(dest, name)
                if member.isdir():
                    os.mkdir(target)
                    made_dirs[name] = int(member.mtime)
                elif member.isreg():
                    _write_file(archive, member, target)
                    files += 1
                    if files == 10:
                        faults.point("mid_export")
                elif member.issym():
                    os.symlink(member.linkname, target)
                    os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
                # hard links, devices and fifos never come out of `git archive`: skipped
    except (tarfile.TarError, OSError) as error:
        raise SourceFailed(f"extracting the archive into {dest} failed: {error}") from error
    for name, mtime in sorted(made_dirs.items(), reverse=True):  # children before parents
        if name:
            os.utime(os.path.join(dest, name), (mtime, mtime))
    return files


def _safe_name(raw: str, made_dirs: dict[str, int]) -> str:
    name = raw.rstrip("/")
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise SourceFailed(f"refusing archive entry {raw!r}: not a plain relative path")
    if posixpath.dirname(name) not in made_dirs:
        raise SourceFailed(f"refusing archive entry {raw!r}: its directory is not in the archive")
    return name


def _write_file(archive: tarfile.TarFile, member: tarfile.TarInfo, target: str) -> None:
    source = archive.extractfile(member)
    if source is None:  # only for non-regular members; isreg() was checked
        raise SourceFailed(f"archive entry {member.name!r} has no data")
    mode = 0o755 if member.mode & 0o111 else 0o644
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with open(fd, "wb", closefd=True) as out:
        if member.size <= _CHUNK:
            out.write(source.read())
        else:
            shutil.copyfileobj(source, out, _CHUNK)
        out.flush()
        os.utime(fd, (member.mtime, member.mtime))
