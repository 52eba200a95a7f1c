"""`releases init --adopt PATH`: an app deployed in place becomes the first release.

The tree is *copied* (everything: `node_modules`, the built `.next`, `.env*`, uploads), never
moved. A move would pull the files from under the running app: Next.js loads server chunks
lazily by path, so requests after the move would fail until PM2 is reconfigured, and a move
across filesystems is a copy anyway. With a copy PATH stays exactly as it was, the running app
keeps serving from it until the operator restarts PM2 from `current`, and it stays a fallback.

Special case: PATH is the root's own `current` and it is a real directory (an app served from
`<root>/current`). Then the copy becomes the release and the directory is swapped for the
`current` symlink in one renameat2(RENAME_EXCHANGE) (two renames where the kernel lacks it);
the old directory is parked in `.releases/adopted-<id>/`, and processes whose cwd it is keep
running from it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from releases_cli.core import ids, lock, safefs
from releases_cli.core.clock import Clock, utc_now
from releases_cli.core.current import switch_to
from releases_cli.core.errors import InvalidInput, NotFound, SourceFailed, UnsafeState
from releases_cli.core.events import (
    DeployFailed,
    DeployFinished,
    DeployStarted,
    Switch,
    SwitchReason,
    record,
)
from releases_cli.core.fs import fsync_dir, make_dir
from releases_cli.core.layout import TEMP_LINK_PREFIX, DeployRoot, read_current
from releases_cli.core.meta import ReleaseMeta, SourceInfo, meta_ids, write_meta
from releases_cli.core.recovery import recover
from releases_cli.core.state import snapshot
from releases_cli.core.tree import copy_tree, overlap, tree_size

PM2_CONFIG_NAMES = ("ecosystem.config.js", "ecosystem.config.cjs", "ecosystem.json", "pm2.json")


@dataclass(frozen=True)
class AdoptResult:
    id: str
    adopted: Path  # the directory that was copied
    release: Path
    parked: Path | None  # where an in-place `current` directory now is
    seconds: float
    instructions: tuple[str, ...]  # what the operator must change in PM2


def adopt(root: DeployRoot, path: Path, wait: float = 0, clock: Clock = utc_now) -> AdoptResult:
    """Copy `path` into a first release, record it complete, point `current` at it."""
    src = Path(os.path.abspath(path))
    in_place = src == root.current
    _refuse(root, src, in_place)  # before anything is created
    root.ensure_layout()
    started = time.monotonic()
    with lock.hold(root, wait, clock):
        recover(root, clock)
        _refuse(root, src, in_place)  # again under the lock: another command may have won
        release_id = ids.new_id(clock(), root.release_ids_on_disk() + meta_ids(root))
        release = root.release(release_id)
        source = SourceInfo(type="adopt", path=str(src))
        record(root, DeployStarted(release_id, source), clock)
        make_dir(release)
        _copy(root, src, release_id, source, clock)
        _complete(root, release_id, source, clock)
        parked = _swap_in_place(root, release_id) if in_place else None
        if not in_place:
            switch_to(root, release_id)
        record(root, Switch(release_id, None, SwitchReason.ADOPT), clock)
        seconds = time.monotonic() - started
        record(root, DeployFinished(release_id, None, round(seconds, 3)), clock)
    config = next((src / n for n in PM2_CONFIG_NAMES if (src / n).is_file()), None)
    lines = pm2_instructions(root, src, release, in_place, config)
    return AdoptResult(release_id, src, release, parked, seconds, lines)


def _refuse(root: DeployRoot, src: Path, in_place: bool) -> None:
    """Raise (changing nothing) unless `src` can become the first release of `root`."""
    if not root.path.is_dir():
        raise InvalidInput(f"deploy root {root.path} does not exist or is not a directory")
    if src.is_symlink():
        raise InvalidInput(f"{src} is a symlink; pass the real directory of the app")
    if not src.exists():
        raise NotFound(f"{src} does not exist; pass the directory the app runs from")
    if not src.is_dir():
        raise InvalidInput(f"{src} is not a directory; pass the directory the app runs from")
    how = None if in_place else overlap(src, root.path)  # by real paths: links change nothing
    if how in ("is", "contains"):
        raise InvalidInput(
            f"{src} contains the deploy root {root.path}; choose a root outside the app"
        )
    if how == "inside":
        raise InvalidInput(f"{src} is inside the deploy root {root.path}; move it out first")
    current = read_current(root)
    if current.is_symlink:
        raise UnsafeState(
            f"{root.path} already has a live release ({current.target}); nothing to adopt"
        )
    if current.exists and not in_place:
        raise UnsafeState(
            f"{root.current} is a real directory; adopt that one: --adopt {root.current}"
        )
    complete = sorted(snapshot(root).complete_ids) if root.releases.is_dir() else []
    if complete:
        raise UnsafeState(f"{root.path} already has releases ({', '.join(complete)}); refusing")


def _copy(root: DeployRoot, src: Path, release_id: str, source: SourceInfo, clock: Clock) -> None:
    """Copy everything (no exclusions: the running app's node_modules and .next are part of it).
    A failed copy is recorded as a failed release; PATH is untouched either way."""
    try:
        copy_tree(src, root.release(release_id), excluded=frozenset())
    except OSError as error:
        message = f"copying {src} failed: {error}; {src} is unchanged"
        write_meta(root, ReleaseMeta.failed(release_id, clock, source, message))
        record(root, DeployFailed(release_id, message), clock)
        safefs.remove_tree(root.releases, release_id)
        raise SourceFailed(message) from error


def _complete(root: DeployRoot, release_id: str, source: SourceInfo, clock: Clock) -> None:
    size = tree_size(root.release(release_id))
    write_meta(root, ReleaseMeta.completed(release_id, clock, source, 0, size, adopted=True))


def _swap_in_place(root: DeployRoot, release_id: str) -> Path:
    """Replace the real directory `current` by the symlink; return where the directory went."""
    parked = root.state / f"adopted-{release_id}"
    tmp = root.path / f"{TEMP_LINK_PREFIX}adopt-{secrets.token_hex(6)}"
    os.symlink(Path("releases") / release_id, tmp)
    if _exchange(tmp, root.current):
        os.rename(tmp, parked)  # tmp now names the old directory
    else:
        os.rename(root.current, parked)  # a gap of two syscalls: no atomic way without renameat2
        os.rename(tmp, root.current)
    fsync_dir(root.path)
    fsync_dir(root.state)
    return parked


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def pm2_instructions(
    root: DeployRoot, src: Path, release: Path, in_place: bool, config: Path | None
) -> tuple[str, ...]:
    """The exact PM2 change: cwd must be the `current` symlink path, never a resolved one."""
    where = str(config) if config else "your ecosystem.config.js"
    if in_place:
        return (
            f"PM2's cwd is already {root.current}, which is now the `current` symlink: keep it.",
            "Reload once so the workers run from the release:  pm2 reload <app-name>",
        )
    return (
        f"PM2 must run the app from the `current` symlink path, no longer from {src}:",
        f'  1. in {where} set   cwd: "{root.current}"',
        f"     (the symlink path as written, never the resolved {release})",
        f"     and make any `script` under {src} relative to cwd, e.g.",
        '     script: "node_modules/next/dist/bin/next", args: "start"',
        "  2. PM2 keeps a process's old cwd on reload, so re-create it once:",
        "     pm2 delete <app-name> && pm2 start ecosystem.config.js && pm2 save",
        f"  3. once it serves from {root.current}, {src} is unused: remove it when you like.",
    )
