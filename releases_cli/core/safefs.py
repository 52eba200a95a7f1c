"""No-follow file primitives for paths inside a release (or any directory we do not trust).

A release is whatever a repository or source directory put there, symlinks included. Every
operation here takes a trusted `base` directory and a relative path inside it, and walks that
path one component at a time with directory descriptors and O_NOFOLLOW: a symlink anywhere in
the chain, or a component that is not a directory, fails instead of being followed. The final
operation (read, write, unlink, mkdir, link) is done relative to the verified parent's
descriptor, so nothing can be swapped between the check and the use.

Files are read only when fstat says they are regular files, opened with O_NONBLOCK (a FIFO
never blocks us) and read with a size cap (reading past it is an error naming the file).

`base` itself is opened with O_NOFOLLOW too (a release directory must be a real directory);
its own parents are the caller's to vouch for (a deploy root may live under a symlinked path).
Every error is an OSError (refusals are `UnsafePath`, with the whole path as filename), so a
caller that treats a failed optional step as "skip it" keeps doing that with `except OSError`.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath

from releases_cli.core import leftovers
from releases_cli.core.compat import rmtree_at

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

Base = Path | int  # a trusted directory: its path, or an open descriptor of it
Rel = str | PurePosixPath


class UnsafePath(OSError):
    """A path we refuse: a symlink or non-directory in its chain, not a plain relative path,
    not a regular file where one must be, or a file over its reader's size cap."""

    def __str__(self) -> str:
        return f"{self.filename} {self.strerror}"


def parts_of(rel: Rel) -> tuple[str, ...]:
    """The components of a relative path; UnsafePath for an absolute path, `..`, `.`, NUL or
    an empty component (a hand-edited record must not name anything outside its base)."""
    text = str(rel)
    if text in ("", "."):
        return ()
    parts = tuple(text.split("/"))
    if text.startswith("/") or "\0" in text or any(p in ("", ".", "..") for p in parts):
        raise UnsafePath(errno.EINVAL, "is not a plain relative path", text)
    return parts


def shown(base: Base, rel: Rel) -> str:
    """The path as an error message names it."""
    text = str(rel)
    if isinstance(base, Path):
        return str(base / text) if text else str(base)
    return text


def open_dir(base: Base, rel: Rel = "", create: bool = False, follow_base: bool = False) -> int:
    """A descriptor of the directory `base/rel`, every component opened with O_NOFOLLOW.

    `base` is a path (its last component must be a real directory, unless `follow_base`: a
    path the operator named) or an open directory descriptor (not closed here). With `create`,
    missing components are made (0o755 less the umask). The caller closes the result.
    """
    parts = parts_of(rel)
    fd = _open_base(base, follow_base) if isinstance(base, Path) else os.dup(base)
    for index, part in enumerate(parts):
        try:
            fd = _step(fd, part, create)
        except OSError as error:
            raise _refusal(error, shown(base, "/".join(parts[: index + 1]))) from None
    return fd


def _open_base(base: Path, follow: bool) -> int:
    try:
        return os.open(base, DIR_FLAGS & ~os.O_NOFOLLOW if follow else DIR_FLAGS)
    except OSError as error:
        if error.errno in (errno.ENOTDIR, errno.ELOOP) and os.path.islink(base):
            error = OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(base))
        raise _refusal(error, str(base)) from None


def _step(fd: int, name: str, create: bool) -> int:
    """Open `name` under `fd` as a directory, making it first with `create`; `fd` is closed
    either way."""
    try:
        if create:
            with suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=fd)
        try:
            return os.open(name, DIR_FLAGS, dir_fd=fd)
        except OSError as error:
            if error.errno in (errno.ENOTDIR, errno.ELOOP) and _is_link(fd, name):
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name) from None
            raise
    finally:
        os.close(fd)


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _refusal(error: OSError, where: str) -> OSError:
    """The same error naming the whole path; symlinks and non-directories as UnsafePath."""
    if isinstance(error, UnsafePath):
        return error
    if error.errno == errno.ELOOP:
        return UnsafePath(errno.ELOOP, "is a symlink (not followed)", where)
    if error.errno == errno.ENOTDIR:
        return UnsafePath(errno.ENOTDIR, "is not a directory", where)
    return type(error)(error.errno, error.strerror, where)


@contextmanager
def dir_at(
    base: Base, rel: Rel = "", create: bool = False, follow_base: bool = False
) -> Iterator[int]:
    """`open_dir` as a context manager."""
    fd = open_dir(base, rel, create, follow_base)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def parent_of(base: Base, rel: Rel, create: bool = False) -> Iterator[tuple[int, str]]:
    """(descriptor of the verified parent directory, final name) of `base/rel`."""
    parts = parts_of(rel)
    if not parts:
        raise UnsafePath(errno.EINVAL, "names no file", shown(base, rel))
    with dir_at(base, "/".join(parts[:-1]), create) as fd:
        yield fd, parts[-1]


def lstat(base: Base, rel: Rel) -> os.stat_result | None:
    """lstat of `base/rel` reached without following anything; None when it is absent or its
    parent chain holds a symlink or a non-directory."""
    try:
        with parent_of(base, rel) as (fd, name):
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return None


def lexists(base: Base, rel: Rel) -> bool:
    return lstat(base, rel) is not None


def is_regular(base: Base, rel: Rel) -> bool:
    st = lstat(base, rel)
    return st is not None and stat.S_ISREG(st.st_mode)


def is_real_dir(base: Base, rel: Rel) -> bool:
    st = lstat(base, rel)
    return st is not None and stat.S_ISDIR(st.st_mode)


def read_file(base: Base, rel: Rel, cap: int) -> bytes:
    """The bytes of the regular file `base/rel`, at most `cap` of them.

    UnsafePath when the path holds a symlink, is not a regular file (a FIFO, device or
    directory is never read: opened non-blocking, checked with fstat) or is larger than `cap`;
    FileNotFoundError when it is absent."""
    with parent_of(base, rel) as (dir_fd, name):
        try:
            fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
        except OSError as error:
            raise _refusal(error, shown(base, rel)) from None
        try:
            return read_capped(fd, shown(base, rel), cap)
        finally:
            os.close(fd)


def read_capped(fd: int, where: str, cap: int) -> bytes:
    """Read the regular file open on `fd`: at most `cap` bytes, else UnsafePath."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise UnsafePath(errno.EINVAL, "is not a regular file (not read)", where)
    chunks = []
    total = 0
    while chunk := os.read(fd, min(1 << 20, cap + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            raise UnsafePath(errno.EFBIG, f"is larger than {cap:,} bytes (not read)", where)
    return b"".join(chunks)


def write_new(base: Base, rel: Rel, data: bytes, mode: int = 0o644) -> None:
    """Create the file `base/rel` (its parents must exist and be real directories) holding
    `data`; FileExistsError when anything, a symlink included, already has that name."""
    with parent_of(base, rel) as (dir_fd, name):
        fd = os.open(name, NEW_FILE_FLAGS, mode, dir_fd=dir_fd)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)


def replace_file(base: Base, rel: Rel, data: bytes, mode: int = 0o644) -> None:
    """Atomically replace `base/rel` with `data` (temp file + fsync + rename + fsync of the
    directory), all relative to the verified parent: readers see the old or the new bytes,
    and a symlink at that name is replaced, never written through. Temp files an earlier
    write of it left when killed before its rename are removed first."""
    with parent_of(base, rel) as (dir_fd, name):
        leftovers.remove_stale(dir_fd, name)
        tmp = leftovers.temp_name(name)
        fd = os.open(tmp, NEW_FILE_FLAGS, mode, dir_fd=dir_fd)
        try:
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)  # a full disk must not also leave the temp
            raise
        os.fsync(dir_fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def unlink_file(base: Base, rel: Rel) -> bool:
    """Remove the file or symlink `base/rel` (never a directory, never through a symlinked
    parent: UnsafePath); False when it was not there."""
    with parent_of(base, rel) as (dir_fd, name):
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            raise UnsafePath(errno.EISDIR, "is a directory (not removed)", shown(base, rel))
        os.unlink(name, dir_fd=dir_fd)
    return True


def remove_entry(dir_fd: int, name: str) -> None:
    """Remove whatever `name` is under `dir_fd`: a directory tree (rmtree with dir_fd never
    descends into symlinks), or a file, symlink, FIFO or socket. Absent is fine."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        rmtree_at(name, dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def remove_tree(base: Base, rel: Rel) -> None:
    """Remove `base/rel` whatever it is, reached without following symlinks. Nothing happens
    when a parent is a symlink or missing: what lies behind a link is not ours to delete."""
    try:
        with parent_of(base, rel) as (dir_fd, name):
            remove_entry(dir_fd, name)
    except OSError:
        return


def link_file(src_dir: int, src_name: str, dest_dir: int, dest_name: str) -> None:
    """Hardlink the regular file `src_name` into another verified directory. The new name is
    checked after linking (a source swapped for a symlink in between is taken back out), so
    only regular files ever come out of this."""
    os.link(src_name, dest_name, src_dir_fd=src_dir, dst_dir_fd=dest_dir, follow_symlinks=False)
    if not stat.S_ISREG(os.stat(dest_name, dir_fd=dest_dir, follow_symlinks=False).st_mode):
        os.unlink(dest_name, dir_fd=dest_dir)
        raise UnsafePath(errno.EINVAL, "is not a regular file (not linked)", src_name)


def describe(error: OSError) -> str:
    """One line for an OSError: the path, then what is wrong with it (no errno numbers)."""
    if isinstance(error, UnsafePath) or error.filename is None:
        return str(error)
    return f"{error.filename}: {error.strerror}"
