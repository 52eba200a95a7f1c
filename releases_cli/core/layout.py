"""DeployRoot: every path of a deploy root, and listing the release directories on disk."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from releases_cli.core.errors import InvalidInput, NotFound, UnsafeState
from releases_cli.core.ids import is_valid_id, sort_key, validate_id
from releases_cli.core.statedir import STATE_DIR, require_sound_layout

TEMP_LINK_PREFIX = ".current.tmp-"
CONFIG_NAME = "releases.toml"


@dataclass(frozen=True)
class DeployRoot:
    """The paths of one deploy root (see DESIGN.md "On disk")."""

    path: Path

    @classmethod
    def resolve(cls, root: Path | str | None) -> DeployRoot:
        """The root from --root, else $RELEASES_ROOT, else the current directory (absolute)."""
        chosen = root or os.environ.get("RELEASES_ROOT") or Path.cwd()
        return cls(Path(os.path.abspath(Path(chosen).expanduser())))

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
            raise NotFound(f"{self.path} is not a deploy root (run `releases init`)")
        return self

    def ensure_layout(self) -> list[Path]:
        """Create the directories of the layout; return the ones that were created."""
        if not self.path.is_dir():
            raise InvalidInput(f"deploy root {self.path} does not exist or is not a directory")
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise UnsafeState(f"deploy root {self.path} is not writable by this user")
        require_sound_layout(self.state)  # never mkdir through a planted .releases link
        created = []
        for directory in (self.releases, self.shared, self.state, self.meta_dir, self.logs):
            try:
                directory.mkdir()  # no is_dir() pre-check: concurrent deploys race here
                created.append(directory)
            except FileExistsError:
                continue
        return created

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


@dataclass(frozen=True)
class CurrentLink:
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
            f"Move it away or adopt it with `releases init --adopt {root.current}`"
        )
    return link
