"""DeployRoot: every path of a deploy root, and listing the release directories on disk."""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path
from typing import NamedTuple

from releases_cli.core.errors import InvalidInput, NotFound, UnsafeState
from releases_cli.core.fs import make_dir
from releases_cli.core.ids import is_valid_id, sort_key, validate_id
from releases_cli.core.statedir import STATE_DIR, require_sound_layout

TEMP_LINK_PREFIX = ".current.tmp-"
CONFIG_NAME = "releases.toml"
PACK_WORK_MARK = "pack-work"  # in .releases/: a `releases pack` work root, never a live one


class DeployRoot(NamedTuple):
    """The paths of one deploy root (see docs/design.md "On disk")."""

    path: Path
    # Named by --root or $RELEASES_ROOT (not found from the current directory): the hints we
    # print then name it too, so they work when pasted from anywhere.
    named: bool = False

    @classmethod
    def resolve(cls, root: Path | str | None, discover: bool = True) -> DeployRoot:
        """The root from --root, else $RELEASES_ROOT, else (like git) the nearest directory
        holding `.releases/` from the current directory up; `discover=False` (init): the
        current directory itself."""
        chosen = root or os.environ.get("RELEASES_ROOT")
        if chosen:
            return cls(Path(os.path.abspath(Path(chosen).expanduser())), named=True)
        here = Path.cwd()
        if not discover:
            return cls(here)
        found = find_root(here)
        if found is None:
            raise NotFound("not inside a deploy root (pass --root or cd into one)")
        return cls(found)

    def command(self, args: str) -> str:
        """`releases ARGS` as a hint to paste: with --root when this root was named."""
        where = f" --root {shlex.quote(str(self.path))}" if self.named else ""
        return f"releases {args}{where}"

    @property
    def current(self) -> Path:
        return self.path / "current"

    @property
    def releases(self) -> Path:
        return self.path / "releases"

    @property
    def shared(self) -> Path:
        return self.path / "shared"

    @property
    def state(self) -> Path:
        return self.path / STATE_DIR

    @property
    def meta_dir(self) -> Path:
        return self.state / "meta"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def trash(self) -> Path:
        return self.state / "trash"

    @property
    def history_file(self) -> Path:
        return self.state / "history.jsonl"

    @property
    def lock_file(self) -> Path:
        return self.state / "lock"

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_NAME

    def release(self, release_id: str) -> Path:
        """Path of a release; the id is validated so it can never escape `releases/`."""
        return self.releases / validate_id(release_id)

    def meta(self, release_id: str) -> Path:
        return self.meta_dir / f"{validate_id(release_id)}.json"

    def log(self, release_id: str) -> Path:
        return self.logs / f"{validate_id(release_id)}.log"

    def is_initialized(self) -> bool:
        return self.releases.is_dir() and self.state.is_dir()

    def require_initialized(self) -> DeployRoot:
        """This root, or NotFound when it has no layout (commands that need releases)."""
        if not self.is_initialized():
            raise NotFound(f"{self.path} is not a deploy root (run `{self.command('init')}`)")
        return self

    def ensure_layout(self, make_root: bool = False) -> list[Path]:
        """Create the directories of the layout (and with `make_root`, the root and its missing
        parents); return the ones that were created."""
        created = _make_dirs(self.path) if make_root else []
        if not self.path.is_dir():
            raise InvalidInput(f"deploy root {self.path} does not exist or is not a directory")
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise UnsafeState(f"deploy root {self.path} is not writable by this user")
        require_sound_layout(self.state)  # never mkdir through a planted .releases link
        for directory in (self.releases, self.shared, self.state, self.meta_dir, self.logs):
            # no is_dir() pre-check: concurrent deploys race here
            if make_dir(directory, exist_ok=True):
                created.append(directory)
        return created

    def is_pack_work(self) -> bool:
        """Marked as `pack`'s work root (a regular file, never a link) and with no `current`."""
        try:
            mark = os.lstat(self.state / PACK_WORK_MARK)
        except OSError:
            return False
        return stat.S_ISREG(mark.st_mode) and not os.path.lexists(self.current)

    def release_ids_on_disk(self) -> list[str]:
        """Ids of real directories in releases/ (links and odd names ignored), oldest first."""
        try:
            entries = list(os.scandir(self.releases))
        except FileNotFoundError:
            return []
        ids = [e.name for e in entries if is_valid_id(e.name) and e.is_dir(follow_symlinks=False)]
        return sorted(ids, key=sort_key)

    def strays_in_releases(self) -> list[str]:
        """Entries of releases/ that are not release directories (planted links, odd names)."""
        try:
            entries = list(os.scandir(self.releases))
        except FileNotFoundError:
            return []
        return sorted(
            e.name for e in entries if not (is_valid_id(e.name) and e.is_dir(follow_symlinks=False))
        )

    def id_named_strays(self) -> list[str]:
        """Stray entries (links, files) whose name is a valid id: such an id is taken."""
        return [name for name in self.strays_in_releases() if is_valid_id(name)]

    def temp_links(self) -> list[Path]:
        """Leftover temp symlinks of an interrupted switch."""
        return sorted(
            self.path / e.name
            for e in os.scandir(self.path)
            if e.name.startswith(TEMP_LINK_PREFIX) and e.is_symlink()
        )


# Inside these directories of a root lies release content (or the operator's shared files),
# not a root: a `.releases/` found there is data, and the search goes on up to the real root.
_CONTENT_DIRS = ("releases", "shared", STATE_DIR)


def find_root(start: Path) -> Path | None:
    """The nearest of `start` and its parents that holds a real `.releases/` directory,
    skipping any that lies inside another root's releases/, shared/ or .releases/."""
    found = [d for d in (start, *start.parents) if _holds_state_dir(d)]
    for i, candidate in enumerate(found):
        outer = found[i + 1 :]
        if not any(candidate.is_relative_to(o / name) for o in outer for name in _CONTENT_DIRS):
            return candidate
    return None


def _holds_state_dir(directory: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(directory / STATE_DIR).st_mode)
    except OSError:  # absent, or a directory we may not search
        return False


def _make_dirs(path: Path) -> list[Path]:
    """mkdir -p `path`; the directories it created, outermost first."""
    missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
    # Something that is there (a file, a link) is left for the caller's check.
    for directory in reversed(missing):
        make_dir(directory, exist_ok=True)
    return list(reversed(missing))


class CurrentLink(NamedTuple):
    """What `current` is right now."""

    exists: bool
    is_symlink: bool
    target: str | None  # raw link text
    release_id: str | None  # set only when the link points at releases/<valid id>


def read_current(root: DeployRoot) -> CurrentLink:
    """Inspect `current` without following it."""
    try:
        mode = os.lstat(root.current).st_mode
    except FileNotFoundError:
        return CurrentLink(False, False, None, None)
    if not stat.S_ISLNK(mode):
        return CurrentLink(True, False, None, None)
    target = os.readlink(root.current)
    parts = Path(target).parts
    release_id = None
    if len(parts) == 2 and parts[0] == "releases" and is_valid_id(parts[1]):
        release_id = parts[1]
    elif Path(target).is_absolute() and Path(target).parent == root.releases:
        release_id = Path(target).name if is_valid_id(Path(target).name) else None
    return CurrentLink(True, True, target, release_id)


def require_current_is_link(root: DeployRoot) -> CurrentLink:
    """Refuse to proceed when `current` is a real file or directory (never touch it)."""
    link = read_current(root)
    if link.exists and not link.is_symlink:
        raise UnsafeState(
            f"{root.current} is a real directory or file, not a symlink; refusing to replace it. "
            f"Move it away or adopt it with `{root.command(f'init --adopt {root.current}')}`"
        )
    return link
