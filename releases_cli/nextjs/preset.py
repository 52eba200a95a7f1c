"""The Next.js preset: default build commands from the lockfile, and `.next/cache` reuse.

Pure decisions (`uses_next`, `package_manager`, `default_commands`) take data; `detect` and
`reuse_build_cache` do the I/O on a release directory.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from releases_cli.core import safefs
from releases_cli.core.tree import copy_file, mirror, tree_size
from releases_cli.nextjs.choices import Preset

log = logging.getLogger(__name__)

PACKAGE_JSON_CAP = 8 << 20  # real ones are kilobytes

# Lockfile -> package manager, in the order they are looked for (npm first: when a project has
# several, npm's is the one `npm ci` would insist on and the most common on servers).
LOCKFILES = (
    ("package-lock.json", "npm"),
    ("npm-shrinkwrap.json", "npm"),
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
)

# Package manager -> (install exactly what the lockfile says, run next's build).
COMMANDS = {
    "npm": ("npm ci", "npx next build"),
    "pnpm": ("pnpm install --frozen-lockfile", "pnpm exec next build"),
    "yarn": ("yarn install --frozen-lockfile", "yarn next build"),
    # No lockfile: nothing to be frozen to; npm resolves from package.json.
    None: ("npm install", "npx next build"),
}


class Detected(NamedTuple):
    """What the preset decided for one release."""

    nextjs: bool
    package_manager: str | None = None
    commands: tuple[str, ...] = ()


def uses_next(package_json: Mapping[str, Any]) -> bool:
    """True when `next` is in dependencies or devDependencies."""
    for section in ("dependencies", "devDependencies"):
        deps = package_json.get(section)
        if isinstance(deps, dict) and "next" in deps:
            return True
    return False


def package_manager(file_names: set[str]) -> str | None:
    """The package manager a directory's lockfile shows (None: no lockfile)."""
    return next((pm for name, pm in LOCKFILES if name in file_names), None)


def default_commands(manager: str | None) -> tuple[str, ...]:
    return COMMANDS[manager]


def read_package_json(app: Path) -> dict[str, Any]:
    """The app's package.json, or {} when there is none or it is not a JSON object. It must be
    a regular file in the app directory (a symlink, FIFO or device is not read) of at most
    PACKAGE_JSON_CAP bytes; otherwise a warning, and the app is not treated as Next.js."""
    try:
        data = json.loads(safefs.read_file(app, "package.json", PACKAGE_JSON_CAP))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        why = safefs.describe(error) if isinstance(error, OSError) else str(error)
        log.warning("cannot read package.json (%s); not treating it as Next.js", why)
        return {}
    return data if isinstance(data, dict) else {}


def regular_file_names(app: Path) -> set[str]:
    """Names of the regular files directly in `app` (symlinks not followed)."""
    try:
        with safefs.dir_at(app) as fd, os.scandir(fd) as entries:
            return {e.name for e in entries if e.is_file(follow_symlinks=False)}
    except OSError:
        return set()


def detect(app: Path, preset: Preset) -> Detected:
    """Decide the preset for an exported release: `nextjs` forces it, `none` disables it,
    `auto` enables it when package.json depends on next."""
    if preset == "none" or (preset == "auto" and not uses_next(read_package_json(app))):
        return Detected(False)
    manager = package_manager(regular_file_names(app))
    return Detected(True, manager, default_commands(manager))


CACHE = ".next/cache"


def reuse_build_cache(previous: Path, new: Path) -> int:
    """Copy `previous/.next/cache` into `new/.next/cache`; return the bytes copied (0: none).

    A real copy (copy_file_range, never hardlinks): Next rewrites cache files in place, and the
    previous release must stay byte-for-byte intact because rollback goes back to it. Both ends
    are reached without following a link (either release's `.next` may be a symlink a commit
    planted): then nothing is copied. The cache is only a speed-up, so a failed copy is removed
    and the build runs without it.
    """
    try:
        source = safefs.open_dir(previous, CACHE)
    except FileNotFoundError:
        return 0  # no cache to reuse (a first build, or a release built without one)
    except OSError as error:
        return _skip(error)
    try:
        with safefs.dir_at(new, ".next", create=True) as dest_next:
            return _copy_cache(source, dest_next)
    except OSError as error:
        return _skip(error)
    finally:
        os.close(source)


def _skip(error: OSError) -> int:
    log.warning("not copying the build cache: %s; building without it", safefs.describe(error))
    return 0


def _copy_cache(source: int, dest_next: int) -> int:
    try:
        os.mkdir("cache", 0o755, dir_fd=dest_next)
    except FileExistsError:
        return 0  # the source shipped its own cache (or a link there): leave it
    try:
        with safefs.dir_at(dest_next, "cache") as dest:
            mirror(source, dest, copy_file)
            return tree_size(dest)
    except OSError:
        safefs.remove_entry(dest_next, "cache")
        raise
