"""Shared files and directories: `shared/<path>` linked into each release before the build.

Things that must outlive a release (`.env.production`, `public/uploads`) live once in the deploy
root's `shared/`; each release gets a symlink at the same relative path. The links are
*relative* (`../../shared/.env.production` from `releases/<id>/.env.production`), like `current`:
the deploy root can be moved, restored from a backup or bind-mounted at another path and every
release still finds its shared files, and a link can never point outside the root it lives in.
"""

from __future__ import annotations

import os
from pathlib import Path

from releases_cli.config import SharedConfig
from releases_cli.core import safefs
from releases_cli.core.errors import InvalidInput, NotFound, UnsafeState
from releases_cli.core.layout import DeployRoot


def check_shared(root: DeployRoot, spec: SharedConfig) -> None:
    """Refuse (changing nothing) when a shared file is missing or an entry has the wrong kind.

    Called before a release directory is made, so a missing `.env.production` fails the deploy
    before any build runs.
    """
    for entry in spec.files:
        where = root.shared / entry
        if not where.exists():
            raise NotFound(
                f"shared file {entry} is missing: create {where} "
                "(listed in [shared] files of releases.toml)"
            )
        if where.is_dir():
            raise InvalidInput(f"shared file {entry} is a directory ({where}); list it in dirs")
    for entry in spec.dirs:
        where = root.shared / entry
        if where.exists() and not where.is_dir():
            raise InvalidInput(f"shared dir {entry} is not a directory ({where}); list it in files")


def link_shared(root: DeployRoot, release: Path, spec: SharedConfig) -> list[str]:
    """Link every shared entry into `release`, replacing what the source had at that path.

    Missing shared directories are created. Returns the entries linked.
    """
    check_shared(root, spec)
    for entry in spec.dirs:
        (root.shared / entry).mkdir(parents=True, exist_ok=True)
    for entry in spec.entries:
        _link_one(root, release, entry)
    return list(spec.entries)


def _link_one(root: DeployRoot, release: Path, entry: str) -> None:
    """Replace whatever the release has at `entry` by the relative link to `shared/<entry>`.

    The parent directories are walked (and made) inside the release without following a link:
    a symlinked parent in the source (say `public -> /var/www`) would make the link, and the
    deletion of what it replaces, land outside the release. That is refused (exit 7)."""
    at = release / entry
    target = os.path.relpath(root.shared / entry, at.parent)
    try:
        with safefs.parent_of(release, entry, create=True) as (parent, name):
            safefs.remove_entry(parent, name)
            os.symlink(target, name, dir_fd=parent)
    except safefs.UnsafePath as error:
        raise UnsafeState(
            f"cannot link shared {entry}: {safefs.describe(error)} (from the source); "
            "refusing to write through it"
        ) from error
