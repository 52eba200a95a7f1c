"""Between export and build: link the shared files, pick the build commands, reuse the
previous release's dependencies (unchanged lockfile) and build cache.

Runs inside the new release (caller holds the lock). Order matters: shared files are linked
first so the build reads `.env.production`; the previous build cache is copied last, right
before the build that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from releases_cli.config import BuildConfig, SharedConfig
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import read_meta
from releases_cli.core.report import Report, Stage, stage
from releases_cli.core.units import human_size
from releases_cli.nextjs import deps, preset
from releases_cli.pipelines.shared import link_shared

INSTALLED = "installed"


@dataclass(frozen=True)
class Prepared:
    """The build commands to run, and how the release got its dependencies: "installed",
    "reused from <id>", or None (a Next.js app whose first command is no frozen install)."""

    commands: tuple[str, ...]
    deps: str | None = None


def prepare_build(
    root: DeployRoot,
    release_id: str,
    previous: str | None,
    shared: SharedConfig,
    build_config: BuildConfig,
    report: Report,
    prebuilt: bool = False,
) -> Prepared:
    """Do the pre-build steps and return the build commands to run.

    `build_config.commands` None means "none given": the preset decides (Next.js defaults, or
    nothing). `prebuilt` (an artifact): only the shared files are linked, nothing is built.
    """
    release = root.release(release_id)
    build = build_config.commands
    if shared.entries:
        with stage(report, Stage.LINK_SHARED) as linking:
            linked = link_shared(root, release, shared)
            linking.detail = ", ".join(linked)
    if prebuilt:
        return Prepared(())
    detected = preset.detect(release, build_config.preset)
    if not detected.nextjs:
        return Prepared(build or ())
    commands = detected.commands if build is None else build
    if build is None:
        report(
            f"preset nextjs ({detected.package_manager or 'no lockfile'}): {' && '.join(commands)}"
        )
    else:
        report(
            "preset nextjs: build commands given; the build cache and dependencies may be reused"
        )
    source = cache_source(root, release_id, previous)
    dependencies = None
    # Only a plain frozen install first (the preset's, or the same given explicitly) may be
    # skipped: with any other commands, which one installs is unknown.
    if commands and deps.is_frozen_install(commands[0]):
        dependencies = INSTALLED
        if source is not None and reuse_dependencies(root, source, release, report):
            commands, dependencies = commands[1:], f"reused from {source}"
    if source is not None:
        copied = preset.reuse_build_cache(root.release(source), release)
        if copied:
            report(f"build cache: copied .next/cache from {source} ({human_size(copied)})")
    return Prepared(commands, dependencies)


def reuse_dependencies(root: DeployRoot, source: str, release: Path, report: Report) -> bool:
    """Hardlink `source`'s node_modules into `release` when their lockfiles are identical;
    True when done (the install is then skipped)."""
    previous = root.release(source)
    if not deps.reusable(previous, release):
        return False
    linked = deps.reuse(previous, release)
    if linked is None:
        return False
    report(
        f"dependencies: lockfile unchanged since {source}; node_modules hardlinked from it "
        f"({linked.files} files, {linked.dirs} directories, {linked.symlinks} symlinks), "
        "install skipped"
    )
    return True


def cache_source(root: DeployRoot, new_id: str, previous: str | None) -> str | None:
    """The release whose `.next/cache` to reuse: the live one if complete, else the newest
    complete one (failed and incomplete builds may hold a half-written cache)."""
    on_disk = [i for i in root.release_ids_on_disk() if i != new_id]
    candidates = ([previous] if previous in on_disk else []) + on_disk[::-1]
    for release_id in candidates:
        if release_id is None:
            continue
        meta = read_meta(root, release_id)
        if meta is not None and meta.complete:
            return release_id
    return None
