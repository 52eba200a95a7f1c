"""Reuse the previous release's `node_modules` when the lockfile is unchanged.

The new release gets its own `node_modules` tree of new directories whose regular files are
hardlinks to the previous release's files (symlinks recreated as symlinks). Never a symlink to a
shared directory: Turbopack cannot find `next` through one (NEXTJS-PM2-NOTES.md), and one tree
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
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from releases_cli.core import faults
from releases_cli.core.tree import copy_tree
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
    """The lockfile the preset goes by (same order as the package-manager choice)."""
    return next((name for name, _ in LOCKFILES if (app / name).is_file()), None)


def same_lockfile(previous: Path, new: Path) -> bool:
    """True when both releases go by the same lockfile and its bytes are identical."""
    name = lockfile_name(new)
    if name is None or lockfile_name(previous) != name:
        return False
    try:
        return (previous / name).read_bytes() == (new / name).read_bytes()
    except OSError:
        return False


def reusable(previous: Path, new: Path) -> bool:
    """The previous release's node_modules can be reused for the new release: identical
    lockfile, a real node_modules directory there, none yet here."""
    source = previous / NODE_MODULES
    dest = new / NODE_MODULES
    if source.is_symlink() or not source.is_dir() or dest.exists() or dest.is_symlink():
        return False
    return same_lockfile(previous, new)


def reuse(previous: Path, new: Path) -> Linked | None:
    """Give `new` a node_modules hardlinked from `previous`'s; None when that failed (the
    partial tree is removed, and the caller runs the install instead)."""
    dest = new / NODE_MODULES
    try:
        return link_tree(previous / NODE_MODULES, dest)
    except OSError as error:
        # e.g. EMLINK (an inode at the filesystem's link limit) or ENOSPC for directories.
        log.warning("could not link %s/node_modules (%s); installing instead", previous, error)
        shutil.rmtree(dest, ignore_errors=True)
        return None


def link_tree(src: Path, dest: Path) -> Linked:
    """Recreate `src` at `dest`: new directories (same modes), symlinks as symlinks, regular
    files hardlinked, except the top-level LEFT_OUT (skipped) and COPIED (copied) entries."""
    os.mkdir(dest)
    files = copied = symlinks = dirs = 0
    with os.scandir(src) as top:
        entries = [(entry.name, entry.stat(follow_symlinks=False)) for entry in top]
    for name, st in entries:
        if name in LEFT_OUT:
            continue
        if name in COPIED and stat.S_ISREG(st.st_mode):
            shutil.copy2(src / name, dest / name, follow_symlinks=False)
            copied += 1
        elif name in COPIED and stat.S_ISDIR(st.st_mode):
            os.mkdir(dest / name)
            copy_tree(src / name, dest / name, excluded=frozenset())
            copied += 1
    stack = [(str(src), str(dest), True)]
    done: list[tuple[str, os.stat_result]] = [(str(dest), os.stat(src))]
    while stack:
        from_dir, to_dir, is_top = stack.pop()
        with os.scandir(from_dir) as scan:
            for entry in scan:
                if is_top and (entry.name in LEFT_OUT or entry.name in COPIED):
                    continue
                target = os.path.join(to_dir, entry.name)
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    os.symlink(os.readlink(entry.path), target)
                    symlinks += 1
                elif stat.S_ISDIR(st.st_mode):
                    os.mkdir(target)
                    stack.append((entry.path, target, False))
                    done.append((target, st))
                    dirs += 1
                elif stat.S_ISREG(st.st_mode):
                    os.link(entry.path, target, follow_symlinks=False)
                    files += 1
                    if files == 10:
                        faults.point("mid_link")
    for directory, st in reversed(done):  # modes last: a read-only dir must take its entries
        os.chmod(directory, stat.S_IMODE(st.st_mode))
    return Linked(files, copied, symlinks, dirs)
