"""Deleting a directory tree we do not trust: at any depth, never following a link, never
leaving the tree, and also when a build left directories read-only.

`shutil.rmtree` recurses once per level (a tree 1,000 levels deep raises RecursionError) and
keeps a descriptor open per level. Here the walk is a loop holding one directory descriptor:
it goes down by opening a child relative to its parent (O_NOFOLLOW), and back up through the
child's `..`, checked to be the very directory it came from (device and inode), so a tree moved
while we delete it stops the deletion instead of leading it elsewhere. No string path is ever
built, so PATH_MAX does not apply. A mount point inside the tree is never entered: another
filesystem (its device differs) nor a bind mount of this one (same device: the kernel's mount
id, from /proc/self/fdinfo, differs), so nothing outside the tree is ever deleted through it.

A directory we own but may not list or write (0o555, 0o000: some builds leave them so) is
given u+rwx first: it is being deleted. What cannot be deleted (another user's files, a mount
point) is left; everything else is deleted, then `EraseError` names the first thing left.

Standard library only: the detached cleaner (core/cleaner.py) imports it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OWNER_ALL = stat.S_IRWXU
_SHOWN_LEVELS = 3  # path components an error shows at each end of a deep path


class EraseError(OSError):
    """Part of a tree could not be deleted; `filename` names the first such entry."""

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


class _Level:
    """One directory on the way down: its name in its parent, its identity (to check `..`
    against on the way back up), and the subdirectories still to delete. A plain class, not a
    dataclass: every command imports this module, and building a dataclass costs start-up."""

    __slots__ = ("dev", "ino", "mount", "name", "pending")

    def __init__(self, name: str, dev: int, ino: int, mount: int) -> None:
        self.name = name
        self.dev = dev
        self.ino = ino
        self.mount = mount  # the kernel's mount id (-1: unknown)
        self.pending: list[str] = []


class _Eraser:
    def __init__(self, top: str, on_first: Callable[[], object] | None) -> None:
        self.top = top  # how errors name the tree's top
        self.on_first = on_first  # called once the first entry of the top level is gone
        self.levels: list[_Level] = []
        self.error: OSError | None = None
        self.left = 0

    def failed(self, error: OSError, name: str) -> None:
        self.left += 1
        if self.error is None:
            self.error = EraseError(error.errno, error.strerror, self.where(name))

    def where(self, name: str) -> str:
        """`top/a/b/name`, the middle elided when deep (a name is shown escaped)."""
        names = [level.name for level in self.levels[1:]] + ([name] if name else [])
        return f"{self.top}/{elided(names)}" if names else self.top

    def removed_one(self) -> None:
        if len(self.levels) == 1 and self.on_first is not None:
            hook, self.on_first = self.on_first, None
            hook()

    def enter(self, fd: int, name: str, st: os.stat_result) -> None:
        """Make `fd` (the directory `name`) ours to empty, delete its non-directories, and
        push it with its subdirectories still to do."""
        if stat.S_IMODE(st.st_mode) & _OWNER_ALL != _OWNER_ALL and st.st_uid == os.geteuid():
            try:
                os.fchmod(fd, stat.S_IMODE(st.st_mode) | _OWNER_ALL)
            except OSError as error:
                self.failed(error, name)
        try:
            with os.scandir(fd) as scan:
                children = [(e.name, e.is_dir(follow_symlinks=False)) for e in scan]
        except OSError as error:
            self.failed(error, name)
            children = []
        level = _Level(name, st.st_dev, st.st_ino, mount_id(fd))
        self.levels.append(level)
        for child, is_dir in children:
            if is_dir:
                level.pending.append(child)
                continue
            try:
                os.unlink(child, dir_fd=fd)
            except FileNotFoundError:
                continue
            except OSError as error:
                self.failed(error, child)
                continue
            self.removed_one()

    def descend(self, fd: int) -> int:
        """The descriptor of the next subdirectory to delete (`fd` closed), or `fd` itself when
        the current directory has none left."""
        level = self.levels[-1]
        while level.pending:
            name = level.pending.pop()
            try:
                child = open_dir(fd, name)
            except FileNotFoundError:
                continue
            except OSError as error:
                self.failed(error, name)
                continue
            try:
                st = os.fstat(child)
            except OSError:
                os.close(child)
                raise
            if st.st_dev != level.dev or not same_mount(level.mount, child):
                os.close(child)
                self.failed(OSError(errno.EXDEV, "is a mount point (not deleted)"), name)
                continue
            os.close(fd)
            self.enter(child, name, st)
            return child
        return fd

    def ascend(self, fd: int) -> int:
        """Leave the emptied directory open on `fd`: open its parent through `..` (checked to
        be the directory we came down from), close `fd`, remove the directory."""
        done = self.levels.pop()
        parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
        st = os.fstat(parent)
        expected = self.levels[-1]
        if (st.st_dev, st.st_ino) != (expected.dev, expected.ino):
            os.close(parent)
            raise EraseError(errno.ESTALE, "was moved while being deleted", self.where(done.name))
        os.close(fd)
        try:
            os.rmdir(done.name, dir_fd=parent)
        except FileNotFoundError:
            pass
        except OSError as error:
            if error.errno != errno.ENOTEMPTY or self.error is None:
                self.failed(error, done.name)  # else: what kept it is reported already
            return parent
        self.removed_one()
        return parent


def elided(names: list[str]) -> str:
    """A relative path as a message shows it: escaped, and only its ends when it is deep (a
    5,000-level path is one line still)."""
    if len(names) > 2 * _SHOWN_LEVELS:
        hidden = f"...{len(names) - 2 * _SHOWN_LEVELS} more levels..."
        names = [*names[:_SHOWN_LEVELS], hidden, *names[-_SHOWN_LEVELS:]]
    return "/".join(map(escaped, names))


def escaped(name: str) -> str:
    """A name from the tree as a message shows it: control characters and undecodable bytes
    escaped, never written raw to a terminal."""
    if name.isprintable():
        return name
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in name)


def open_dir(parent: int, name: str) -> int:
    """A descriptor of the real directory `name` under `parent` (never a link). One we own
    but may not read or search (0o000, 0o311) is given u+rwx first."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except PermissionError:
        handle = os.open(name, _PATH_FLAGS, dir_fd=parent)  # needs no permission on it
        try:
            st = os.fstat(handle)
            if st.st_uid != os.geteuid():
                raise
            # chmod through the descriptor's /proc link: the inode we opened, never a path
            os.chmod(f"/proc/self/fd/{handle}", stat.S_IMODE(st.st_mode) | _OWNER_ALL)
        finally:
            os.close(handle)
        return os.open(name, _DIR_FLAGS, dir_fd=parent)


def clear(fd: int, top: str = ".", on_first: Callable[[], object] | None = None) -> None:
    """Delete everything inside the directory open on `fd` (which stays open and is kept).
    `top` names it in errors; `on_first` is called once its first entry is gone. EraseError
    after deleting all it could, when something is left."""
    eraser = _Eraser(top, on_first)
    current = os.dup(fd)
    try:
        eraser.enter(current, "", os.fstat(current))
        while True:
            below = eraser.descend(current)
            if below != current:
                current = below
            elif len(eraser.levels) > 1:
                current = eraser.ascend(current)
            else:
                break
    finally:
        os.close(current)
    if eraser.error is not None:
        error = eraser.error
        more = f" ({eraser.left - 1} more entries left)" if eraser.left > 1 else ""
        raise EraseError(error.errno, f"{error.strerror}{more}", error.filename)


def mount_id(fd: int) -> int:
    """The mount id of the file open on `fd` (/proc/self/fdinfo), -1 when unknown."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", "rb") as info:
            for line in info.read(4096).splitlines():
                if line.startswith(b"mnt_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return -1


def same_mount(parent: int, fd: int) -> bool:
    """Whether `fd` is on the mount whose id is `parent` (True when either is unknown)."""
    child = mount_id(fd)
    return parent == -1 or child in (-1, parent)


def remove(dir_fd: int, name: str, top: str | None = None) -> None:
    """Remove `name` under `dir_fd` whatever it is: a directory tree (as `clear`, then the
    directory), a file, a link (never followed), a FIFO or socket. Absent is fine. `top`
    names it in errors (default: `name`)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    fd = open_dir(dir_fd, name)
    try:
        if not same_mount(mount_id(dir_fd), fd):
            raise EraseError(errno.EXDEV, "is a mount point (not deleted)", top or name)
        clear(fd, top or name)
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
