"""The one directory walker, and what is built on it: copy a tree like `cp -a`, measure it like
`du -s`.

`walk` goes down a tree through directory descriptors: each subdirectory is opened relative to
its parent with O_NOFOLLOW, so a symlink is reported as a symlink and never entered, and a
directory swapped for a link while we walk fails instead of leading elsewhere. Every consumer
(copy, size, the Next.js static files, node_modules reuse) works on those descriptors too.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
import stat
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from releases_cli.core import faults
from releases_cli.core.erase import elided
from releases_cli.core.safefs import DIR_FLAGS, NEW_FILE_FLAGS, READ_FLAGS, UnsafePath, dir_at

log = logging.getLogger(__name__)

# What a directory source leaves out (at any depth): dependencies and build output are made per
# release, and repository metadata is never served.
EXCLUDED_NAMES = frozenset({".git", "node_modules", ".next"})
# Two descriptors per level are open while copying (source and destination): 256 levels stay
# far below the usual 1,024-descriptor limit, and far above any real tree.
MAX_DEPTH = 256


class Kind(enum.Enum):
    DIR = "dir"  # a real directory, entered next (its LEAVE comes after its contents)
    FILE = "file"  # a regular file
    LINK = "link"  # a symlink (never followed)
    OTHER = "other"  # FIFO, socket, device: not app content
    LEAVE = "leave"  # done with a directory's contents


@dataclass(slots=True)
class Entry:
    """One step of `walk`. `parent` is the descriptor of the directory holding the entry; for
    DIR and LEAVE, `fd` is the directory's own. Both are open only during this step (and for
    `fd`, until its LEAVE)."""

    kind: Kind
    name: str
    parent: int
    rel: str  # relative to the top, with "/"
    depth: int  # 1 for the top's own entries
    dirent: os.DirEntry[str] | None = None
    fd: int = -1

    def lstat(self) -> os.stat_result:
        if self.dirent is None:
            return os.fstat(self.fd)
        return self.dirent.stat(follow_symlinks=False)


Skip = Callable[[str, int], bool]  # (name, depth) -> leave this entry (and its subtree) out


def walk(top: int, skip: Skip | None = None, strict: bool = True) -> Generator[Entry]:
    """Every entry under the directory open on `top`, depth first, each directory's entries
    right after it and its LEAVE after them. `strict`: an unreadable directory or one nested
    deeper than MAX_DEPTH raises OSError; otherwise it is skipped (with a warning for depth).
    """
    # One frame per open directory: (descriptor, its remaining entries, rel prefix, depth of
    # its entries, the DIR entry that opened it). Every descriptor but `top` is on the stack
    # while it is open, so an exception (or a consumer stopping early) closes them all.
    Frame = tuple[int, Iterator[os.DirEntry[str]], str, int, Entry | None]
    stack: list[Frame] = [(top, iter(_listing(top, strict)), "", 1, None)]
    try:
        while stack:
            fd, entries, prefix, depth, owner = stack[-1]
            for dirent in entries:
                name = dirent.name
                if skip is not None and skip(name, depth):
                    continue
                entry = Entry(_kind(dirent), name, fd, prefix + name, depth, dirent)
                if entry.kind is not Kind.DIR:
                    yield entry
                    continue
                child = _enter(entry, strict)
                if child is None:
                    continue
                entry.fd = child
                stack.append((child, iter(()), entry.rel + "/", depth + 1, entry))
                yield entry
                stack[-1] = (child, iter(_listing(child, strict)), *stack[-1][2:])
                break
            else:
                if owner is not None:
                    parent = stack[-2][0]
                    yield Entry(Kind.LEAVE, owner.name, parent, owner.rel, owner.depth, fd=fd)
                stack.pop()
                if owner is not None:
                    os.close(fd)
    finally:
        for fd, *_ in stack[1:]:
            os.close(fd)


def _kind(dirent: os.DirEntry[str]) -> Kind:
    # d_type from readdir: no stat per entry (lstat only where the filesystem gives no type)
    if dirent.is_symlink():
        return Kind.LINK
    if dirent.is_dir(follow_symlinks=False):
        return Kind.DIR
    if dirent.is_file(follow_symlinks=False):
        return Kind.FILE
    return Kind.OTHER


def _listing(fd: int, strict: bool) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(fd) as scan:
            return list(scan)
    except OSError:
        if strict:
            raise
        return []


def _enter(entry: Entry, strict: bool) -> int | None:
    """The descriptor of a subdirectory, opened without following a link swapped in for it."""
    try:
        if entry.depth >= MAX_DEPTH:
            where = elided(entry.rel.split("/"))
            raise UnsafePath(errno.ELOOP, f"is nested deeper than {MAX_DEPTH} levels", where)
        return os.open(entry.name, DIR_FLAGS, dir_fd=entry.parent)
    except OSError as error:
        if strict:
            raise
        log.warning("skipped %s: %s", elided(entry.rel.split("/")), error.strerror)
        return None


class Mirrored(NamedTuple):
    """What `mirror` made."""

    files: int
    symlinks: int
    dirs: int


FileAction = Callable[[int, str, int], None]  # (source dir fd, name, destination dir fd)


def mirror(
    src: int, dest: int, put_file: FileAction, skip: Skip | None = None, fault: str = ""
) -> Mirrored:
    """Recreate the tree open on `src` in the empty directory open on `dest`: new directories
    (modes and mtimes kept, set after their contents), symlinks as symlinks, each regular file
    handed to `put_file` (copy or hardlink). FIFOs, sockets and devices are not app content:
    skipped. The fault point `fault` fires after the 10th file.

    Directories the owner cannot list, enter and write (0o555, ...) get their mode only once
    everything is made: a copy that fails half-way leaves a tree its caller can still delete
    without privileges.
    """
    files = symlinks = dirs = 0
    dests = [dest]  # destination descriptor per level: entries always belong to the last one
    read_only: list[tuple[str, int]] = []  # (rel, mode), children before their parents
    try:
        with closing(walk(src, skip)) as entries:
            for entry in entries:
                out = dests[-1]
                if entry.kind is Kind.FILE:
                    put_file(entry.parent, entry.name, out)
                    files += 1
                    if files == 10 and fault:
                        faults.point(fault)
                elif entry.kind is Kind.LINK:
                    os.symlink(os.readlink(entry.name, dir_fd=entry.parent), entry.name, dir_fd=out)
                    symlinks += 1
                elif entry.kind is Kind.DIR:
                    os.mkdir(entry.name, 0o700, dir_fd=out)
                    dests.append(os.open(entry.name, DIR_FLAGS, dir_fd=out))
                    dirs += 1
                elif entry.kind is Kind.LEAVE:
                    made = dests.pop()
                    try:
                        st = os.fstat(entry.fd)
                        if st.st_mode & stat.S_IRWXU == stat.S_IRWXU:
                            _same_meta(st, made)
                        else:
                            os.utime(made, ns=(st.st_atime_ns, st.st_mtime_ns))
                            read_only.append((entry.rel, stat.S_IMODE(st.st_mode)))
                    finally:
                        os.close(made)
    finally:
        for fd in dests[1:]:
            os.close(fd)
    for rel, mode in read_only:
        with dir_at(dest, rel) as fd:
            os.fchmod(fd, mode)
    return Mirrored(files, symlinks, dirs)


def _same_meta(st: os.stat_result, fd: int) -> None:
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def copy_file(src_dir: int, name: str, dest_dir: int) -> None:
    """Copy the regular file `name` (mode and times kept; sparse files stay sparse). A name
    that is no longer a regular file when opened (swapped for a FIFO) is skipped."""
    fin = os.open(name, READ_FLAGS, dir_fd=src_dir)
    try:
        st = os.fstat(fin)
        if not stat.S_ISREG(st.st_mode):
            return
        fout = os.open(name, NEW_FILE_FLAGS, 0o600, dir_fd=dest_dir)
        try:
            copy_data(fin, fout, st)
            _same_meta(st, fout)
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def copy_data(fin: int, fout: int, st: os.stat_result) -> None:
    """Copy a file's bytes kernel-side. A file with holes (fewer blocks than its size) has only
    its data extents copied (SEEK_DATA / SEEK_HOLE) and is then extended to its size, so the
    holes stay holes: copy_file_range alone writes them out as zeros on many filesystems."""
    size = st.st_size
    if size == 0:
        return
    if st.st_blocks * 512 >= size:
        _copy_range(fin, fout, 0, size)
        return
    try:
        extents = list(_data_extents(fin, size))
    except OSError:  # no SEEK_DATA here: copy it all
        extents = [(0, size)]
    for start, end in extents:
        _copy_range(fin, fout, start, end - start)
    os.ftruncate(fout, size)


def _data_extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    at = 0
    while at < size:
        try:
            start = os.lseek(fd, at, os.SEEK_DATA)
        except OSError as error:
            if error.errno == errno.ENXIO:  # only a hole from here to the end
                return
            raise
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        yield start, end
        at = end


def _copy_range(fin: int, fout: int, offset: int, count: int) -> None:
    """copy_file_range at `offset` in both files, falling back to pread/pwrite."""
    done = 0
    try:
        while done < count:
            sent = os.copy_file_range(fin, fout, count - done, offset + done, offset + done)
            if sent == 0:
                return  # the source shrank while we copied
            done += sent
    except OSError:  # EXDEV on older kernels, EINVAL/EOPNOTSUPP on some filesystems
        while done < count:
            chunk = os.pread(fin, min(1 << 20, count - done), offset + done)
            if not chunk:
                return
            view = memoryview(chunk)
            while view:
                written = os.pwrite(fout, view, offset + done)
                view = view[written:]
                done += written


def copy_tree(src: Path, dest: Path, excluded: frozenset[str] = EXCLUDED_NAMES) -> Mirrored:
    """Copy `src` into the existing empty directory `dest` like `cp -a` (modes, mtimes,
    symlinks as symlinks), leaving out `excluded` names at any depth.

    `src` may be a symlink the operator named; nothing below it is followed. `dest` must be a
    real directory. Hand-rolled rather than shutil.copytree: per-file Path objects and
    copystat calls made that much slower than `cp -a` (bench/copy_tree.py measures it).
    """

    def skip(name: str, _depth: int) -> bool:
        return name in excluded

    with dir_at(src, follow_base=True) as src_fd, dir_at(dest) as dest_fd:
        return mirror(src_fd, dest_fd, copy_file, skip if excluded else None, "mid_export")


def overlap(source: Path, root: Path) -> str | None:
    """How a source directory and the deploy root overlap, compared by their real paths (so a
    symlinked spelling of either changes nothing): "is", "contains", "inside", or None."""
    src = Path(os.path.realpath(source))
    dst = Path(os.path.realpath(root))
    if src == dst:
        return "is"
    if src in dst.parents:
        return "contains"
    if dst in src.parents:
        return "inside"
    return None


def tree_size(path: Path | int, rel: str = "") -> int:
    """Disk usage like `du -s` of `path/rel` (reached without following links): bytes,
    hardlinked files counted once, links not followed, unreadable parts left out."""
    seen: set[tuple[int, int]] = set()
    total = 0
    try:
        with dir_at(path, rel) as top:
            for entry in walk(top, strict=False):
                if entry.kind is Kind.LEAVE:
                    continue
                try:
                    st = entry.lstat()
                except OSError:
                    continue
                if st.st_nlink > 1 and entry.kind is not Kind.DIR:
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += st.st_blocks * 512
    except OSError as error:
        log.warning("cannot measure %s: %s", path, error)
    return total


def regular_files(path: Path, rel: str = "") -> list[str]:
    """Regular files under `path/rel` as sorted relative paths; [] when that directory cannot
    be reached without following a link. Symlinks below it are never followed or listed."""
    try:
        with dir_at(path, rel) as top:
            return sorted(e.rel for e in walk(top, strict=False) if e.kind is Kind.FILE)
    except OSError:
        return []
