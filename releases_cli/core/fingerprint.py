"""What a tree holds, entry by entry, read without following links: the basis of `releases diff`
and of the migrations digest.

An entry is described by its kind: `dir`, `file:<size>`, `link:<target text>` (never followed)
or `other` (FIFO, socket, device: never opened). A regular file's content digest is read
through a descriptor opened O_NOFOLLOW | O_NONBLOCK and checked with fstat, so nothing but a
regular file is ever read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from releases_cli.core.safefs import READ_FLAGS, open_dir, parent_of
from releases_cli.core.tree import Kind, Skip, walk

DIR = "dir"
OTHER = "other"


def _describe(st: os.stat_result, dir_fd: int, name: str) -> str:
    if stat.S_ISREG(st.st_mode):
        return f"file:{st.st_size}"
    if stat.S_ISLNK(st.st_mode):
        return "link:" + os.readlink(name, dir_fd=dir_fd)
    return DIR if stat.S_ISDIR(st.st_mode) else OTHER


def entries(base: Path, rel: str = "", skip: Skip | None = None) -> dict[str, str]:
    """Every entry under the directory `base/rel` (its relative path -> kind). {} when absent;
    OSError when it is reached only through a link or cannot be read."""
    found: dict[str, str] = {}
    try:
        top = open_dir(base, rel)
    except FileNotFoundError:
        return found
    try:
        for entry in walk(top, skip):
            if entry.kind is Kind.DIR:
                found[entry.rel] = DIR
            elif entry.kind is not Kind.LEAVE:
                found[entry.rel] = _describe(entry.lstat(), entry.parent, entry.name)
    finally:
        os.close(top)
    return found


def entry(base: Path, rel: str) -> str | None:
    """The kind of the one entry `base/rel` (None when absent); no link on the way followed."""
    try:
        with parent_of(base, rel) as (parent, name):
            return _describe(os.stat(name, dir_fd=parent, follow_symlinks=False), parent, name)
    except FileNotFoundError:
        return None


def file_digest(base: Path, rel: str) -> str:
    """SHA-256 of the regular file `base/rel` ("other" if it is no longer a regular file)."""
    import hashlib  # not at import: rollback loads this module and must start fast

    with parent_of(base, rel) as (parent, name):
        fd = os.open(name, READ_FLAGS, dir_fd=parent)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return OTHER  # swapped for a FIFO or device since the listing: never read
        os.set_blocking(fd, True)
        digest = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)
