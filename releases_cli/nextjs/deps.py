"""Reuse the previous release's `node_modules` when the lockfile is unchanged.

The new release gets its own `node_modules` tree of new directories whose regular files are
hardlinks to the previous release's files (symlinks recreated as symlinks). Never a symlink to a
shared directory: Turbopack cannot find `next` through one (tried on next 16), and one tree
per release keeps every release self-contained for rollback and prune.

Why sharing inodes is safe: nothing the deploy runs after a reuse writes into `node_modules`
(the install is skipped; `next build` writes into `.next`). Tool caches (`node_modules/.cache`)
are left out and the package managers' own state files are copied, never linked, because those
are the files tools rewrite in place. When the lockfile changes the install runs, and
`npm ci` removes `node_modules` first and writes new files (new inodes), so the previous
release's files are never written through (tests/test_deps_e2e.py proves it byte for byte).
The linked files are not made read-only: npm and pnpm chmod files they install, and a mode
change on a shared inode would show in the previous release too.
"""

from __future__ import annotations

import logging
import os
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path

from releases_cli.core import safefs
from releases_cli.core.tree import copy_file, mirror
from releases_cli.nextjs.preset import LOCKFILES

log = logging.getLogger(__name__)

NODE_MODULES = "node_modules"
# Top-level entries of node_modules that tools write to (build caches): never shared, not copied.
LEFT_OUT = frozenset({".cache"})
# Top-level entries that tools rewrite in place: copied. The package managers' state files
# (rewritten by `npm install` & co), and Prisma's generated client (`prisma generate`, often a
# build step, writes `node_modules/.prisma/client` in place).
COPIED = frozenset(
    {".package-lock.json", ".modules.yaml", ".yarn-integrity", ".yarn-state.yml", ".prisma"}
)
# Installs that do exactly what the lockfile says (so an identical lockfile means an identical
# node_modules), as (first words, flag that must be present).
FROZEN_INSTALLS = (
    (("npm", "ci"), None),
    (("pnpm", "install"), "--frozen-lockfile"),
    (("yarn", "install"), "--frozen-lockfile"),
)
SHELL_SYNTAX = frozenset("&|;<>()$`\\\n")
LOCKFILE_CAP = 256 << 20  # the largest monorepo lockfiles are tens of megabytes


@dataclass(frozen=True)
class Linked:
    """What `link_tree` made."""

    files: int  # regular files hardlinked
    copied: int  # state files copied
    symlinks: int
    dirs: int


def is_frozen_install(command: str) -> bool:
    """True for a plain frozen install (`npm ci --prefer-offline`, `pnpm install
    --frozen-lockfile`, ...): the one command that may be skipped. Anything combined with
    other shell syntax (`npm ci && ...`) does more than install, so it always runs."""
    if any(char in SHELL_SYNTAX for char in command):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return any(
        tuple(words[:2]) == start and (flag is None or flag in words)
        for start, flag in FROZEN_INSTALLS
    )


def lockfile_name(app: Path) -> str | None:
    """The lockfile the preset goes by (same order as the package-manager choice); only a
    regular file counts (a symlink is not followed)."""
    return next((name for name, _ in LOCKFILES if safefs.is_regular(app, name)), None)


def same_lockfile(previous: Path, new: Path) -> bool:
    """True when both releases go by the same lockfile and its bytes are identical (each read
    as a regular file, with a size cap)."""
    name = lockfile_name(new)
    if name is None or lockfile_name(previous) != name:
        return False
    try:
        return safefs.read_file(previous, name, LOCKFILE_CAP) == safefs.read_file(
            new, name, LOCKFILE_CAP
        )
    except OSError as error:
        log.warning("not reusing node_modules: %s", safefs.describe(error))
        return False


def reusable(previous: Path, new: Path) -> bool:
    """The previous release's node_modules can be reused for the new release: identical
    lockfile, a real node_modules directory there (no link on the way), nothing of that name
    here yet."""
    if not safefs.is_real_dir(previous, NODE_MODULES) or safefs.lexists(new, NODE_MODULES):
        return False
    return same_lockfile(previous, new)


def reuse(previous: Path, new: Path) -> Linked | None:
    """Give `new` a node_modules hardlinked from `previous`'s; None when that failed (the
    partial tree is removed, and the caller runs the install instead)."""
    try:
        with safefs.dir_at(previous, NODE_MODULES) as src, safefs.dir_at(new) as dest:
            return link_tree(src, dest, NODE_MODULES)
    except OSError as error:
        # e.g. EMLINK (an inode at the filesystem's link limit) or ENOSPC for directories.
        log.warning(
            "could not link %s/node_modules (%s); installing instead",
            previous,
            safefs.describe(error),
        )
        safefs.remove_tree(new, NODE_MODULES)
        return None


def link_tree(src: int, dest_parent: int, name: str) -> Linked:
    """Recreate the tree open on `src` as `name` in `dest_parent`: new directories (same modes),
    symlinks as symlinks, regular files hardlinked, except the top-level LEFT_OUT (skipped) and
    COPIED (copied) entries. Nothing is followed on either side."""
    os.mkdir(name, 0o700, dir_fd=dest_parent)
    with safefs.dir_at(dest_parent, name) as dest:
        copied = sum(_copy_state(src, dest, entry) for entry in sorted(COPIED))

        def skip(entry: str, depth: int) -> bool:
            return depth == 1 and (entry in LEFT_OUT or entry in COPIED)

        made = mirror(src, dest, _hardlink, skip, "mid_link")
        mode = stat.S_IMODE(os.fstat(src).st_mode)
        os.fchmod(dest, mode)  # last: a read-only top directory must take its entries first
    return Linked(made.files, copied, made.symlinks, made.dirs)


def _hardlink(src_dir: int, name: str, dest_dir: int) -> None:
    os.link(name, name, src_dir_fd=src_dir, dst_dir_fd=dest_dir, follow_symlinks=False)


def _copy_state(src: int, dest: int, name: str) -> int:
    """Copy one COPIED entry (a state file, or a directory like `.prisma`); 1 when copied."""
    st = safefs.lstat(src, name)
    if st is None:
        return 0
    if stat.S_ISREG(st.st_mode):
        copy_file(src, name, dest)
        return 1
    if stat.S_ISDIR(st.st_mode):
        os.mkdir(name, 0o700, dir_fd=dest)
        with safefs.dir_at(src, name) as from_dir, safefs.dir_at(dest, name) as to_dir:
            mirror(from_dir, to_dir, copy_file)
            os.fchmod(to_dir, stat.S_IMODE(st.st_mode))
        return 1
    return 0
