"""The Next.js preset: default build commands from the lockfile, and `.next/cache` reuse.

Pure decisions (`uses_next`, `package_manager`, `default_commands`) take data; `detect` and
`reuse_build_cache` do the I/O on a release directory.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from releases_cli.core.tree import copy_tree, tree_size

log = logging.getLogger(__name__)

Preset = Literal["auto", "nextjs", "none"]  # build.preset (checked by config)
PRESETS: tuple[Preset, ...] = ("auto", "nextjs", "none")

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


@dataclass(frozen=True)
class Detected:
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
    """The app's package.json, or {} when there is none or it is not a JSON object."""
    try:
        data = json.loads((app / "package.json").read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.warning("cannot read %s/package.json (%s); not treating it as Next.js", app, error)
        return {}
    return data if isinstance(data, dict) else {}


def detect(app: Path, preset: Preset) -> Detected:
    """Decide the preset for an exported release: `nextjs` forces it, `none` disables it,
    `auto` enables it when package.json depends on next."""
    if preset == "none" or (preset == "auto" and not uses_next(read_package_json(app))):
        return Detected(False)
    manager = package_manager({p.name for p in app.iterdir() if p.is_file()})
    return Detected(True, manager, default_commands(manager))


def reuse_build_cache(previous: Path, new: Path) -> int:
    """Copy `previous/.next/cache` into `new/.next/cache`; return the bytes copied (0: none).

    A real copy (copy_file_range, never hardlinks): Next rewrites cache files in place, and the
    previous release must stay byte-for-byte intact because rollback goes back to it. The cache
    is only a speed-up, so a failed copy is removed and the build runs without it.
    """
    cache = previous / ".next" / "cache"
    if cache.is_symlink() or not cache.is_dir():
        return 0
    dest = new / ".next" / "cache"
    if dest.exists() or dest.is_symlink():
        return 0  # the source shipped its own cache: leave it
    try:
        dest.mkdir(parents=True)
        copy_tree(cache, dest, excluded=frozenset())
    except OSError as error:
        log.warning(
            "could not copy the build cache from %s (%s); building without it", cache, error
        )
        shutil.rmtree(dest, ignore_errors=True)
        return 0
    return tree_size(dest)
