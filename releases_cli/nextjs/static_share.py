"""Version skew: keep earlier builds' `_next/static` files reachable from the live release.

A browser that loaded a page from build A keeps asking for A's content-hashed chunks under
`/_next/static/` after build B went live (a lazy `next/dynamic` chunk, a route's client code).
B does not have them: 404 and a ChunkLoadError. Those files are written once by the build and
never rewritten, so the new release can serve them too: `share_static` hardlinks into the new
release's `.next/static` every file of the kept complete releases that the new build lacks
(newest release first; hardlinks cost no disk). `forget` takes a pruned build's files back out.

What was linked, and which build produced each file (its origin), is kept in a manifest inside
the release (`.next/releases-static.json`, outside `.next/static` so it is never served), so it
goes away with the release. The manifest is written *before* the links are made (write-ahead):
a crash in between leaves entries naming files that were never linked, which `forget` skips,
and never a linked file that no manifest names (which no prune could take back out).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Literal

from releases_cli.core import faults
from releases_cli.core.fs import atomic_write
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import read_meta

log = logging.getLogger(__name__)

ShareStatic = Literal["auto", "true", "false"]  # build.share_static (checked by config)
SETTINGS: tuple[ShareStatic, ...] = ("auto", "true", "false")
MANIFEST = Path(".next") / "releases-static.json"
STATIC = Path(".next") / "static"


def enabled(setting: ShareStatic, nextjs: bool) -> bool:
    """`auto` follows the Next.js preset; `true` / `false` force it on / off."""
    return setting == "true" or (setting == "auto" and nextjs)


def read_manifest(release: Path) -> dict[str, str]:
    """Shared path (relative to .next/static) -> id of the release whose build produced it."""
    try:
        data = json.loads((release / MANIFEST).read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.warning("unreadable %s (%s): treating every static file as its own", release, error)
        return {}
    linked = data.get("linked") if isinstance(data, dict) else None
    if not isinstance(linked, dict):
        return {}
    return {str(k): str(v) for k, v in linked.items() if isinstance(v, str)}


def _write_manifest(release: Path, linked: dict[str, str]) -> None:
    body = json.dumps({"v": 1, "linked": linked}, indent=1, sort_keys=True).encode()
    atomic_write(release / MANIFEST, body)


def static_files(static: Path) -> list[str]:
    """Regular files under `static`, as relative posix paths; symlinks are never followed."""
    found: list[str] = []
    stack = [static]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path).relative_to(static).as_posix())
    return sorted(found)


def _real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not path.parent.is_symlink()


def _donors(root: DeployRoot, release_id: str) -> list[str]:
    """Complete releases on disk other than `release_id`, newest first."""
    result = []
    for other in reversed(root.release_ids_on_disk()):
        meta = read_meta(root, other) if other != release_id else None
        if meta is not None and meta.complete:
            result.append(other)
    return result


def _build_id(release: Path) -> str:
    try:
        return (release / ".next" / "BUILD_ID").read_text().strip() or "/"
    except OSError:
        return "/"  # no build id: "/" matches no relative path


def plan_links(root: DeployRoot, release_id: str) -> dict[str, tuple[str, str]]:
    """What `share_static` would link: relative path -> (donor release, origin release)."""
    dest = root.release(release_id) / STATIC
    if not _real_dir(dest):
        return {}
    own = set(static_files(dest))
    plan: dict[str, tuple[str, str]] = {}
    for donor in _donors(root, release_id):
        static = root.release(donor) / STATIC
        if not _real_dir(static):
            continue
        origins = read_manifest(root.release(donor))
        build_dir = _build_id(root.release(donor)) + "/"
        for rel in static_files(static):
            # A build's <BUILD_ID>/ files stay its own: the health check asks for its
            # _buildManifest.js to tell which build a server runs (an old page never needs it).
            if rel not in own and rel not in plan and not rel.startswith(build_dir):
                plan[rel] = (donor, origins.get(rel, donor))
    return plan


def share_static(root: DeployRoot, release_id: str) -> int:
    """Hardlink the kept complete releases' static files that `release_id` lacks into it.

    Caller holds the lock. Returns how many files were linked. A file that cannot be linked is
    skipped (sharing only widens what is served; the release works without it).
    """
    plan = plan_links(root, release_id)
    if not plan:
        return 0
    release = root.release(release_id)
    manifest = read_manifest(release)
    _write_manifest(release, manifest | {rel: origin for rel, (_, origin) in plan.items()})
    linked = 0
    for rel, (donor, _origin) in plan.items():
        target = release / STATIC / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(root.release(donor) / STATIC / rel, target, follow_symlinks=False)
            linked += 1
            if linked == 1:
                faults.point("mid_share")
        except FileExistsError:
            continue
        except OSError as error:
            log.warning("could not share %s from %s: %s", rel, donor, error)
    return linked


def forget(root: DeployRoot, pruned_id: str) -> int:
    """Remove from every other release the static files that came only from `pruned_id`'s build.

    Called by prune before the release is taken out (caller holds the lock). Files are unlinked
    first and the manifest rewritten after: a crash in between leaves entries for files already
    gone, which the next prune of that origin skips. Returns how many files were removed.
    """
    removed = 0
    for other in root.release_ids_on_disk():
        if other == pruned_id:
            continue
        release = root.release(other)
        manifest = read_manifest(release)
        doomed = [rel for rel, origin in manifest.items() if origin == pruned_id]
        if not doomed:
            continue
        for rel in doomed:
            target = release / STATIC / rel
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                continue  # a hand-edited manifest must not reach outside .next/static
            try:
                target.unlink()
                removed += 1
            except FileNotFoundError:
                continue
        faults.point("mid_forget")
        _write_manifest(release, {k: v for k, v in manifest.items() if v != pruned_id})
    return removed


# Next.js reads NEXT_DEPLOYMENT_ID at build *and* at `next start`; the two must agree (with an
# id at build time only, every build gets the same constant build id and the client can no
# longer tell builds apart). The build gets it exported, `next start` reads it from this file,
# which Next loads in the release directory however the process manager starts it.
DEPLOYMENT_ENV_FILE = ".env.production.local"


def deployment_env(release: Path, release_id: str, nextjs: bool) -> dict[str, str]:
    """NEXT_DEPLOYMENT_ID = the release id for a Next.js build, recorded for `next start` in the
    release's .env.production.local; {} when not Next.js or when the app ships that file itself
    (it is the app's to own: then the deployment id is left to the app)."""
    env_file = release / DEPLOYMENT_ENV_FILE
    if not nextjs or env_file.exists() or env_file.is_symlink():
        return {}
    env_file.write_text(
        "# Written by `releases deploy`: Next.js's deployment id for this build (skew.py).\n"
        f"NEXT_DEPLOYMENT_ID={release_id}\n"
    )
    return {"NEXT_DEPLOYMENT_ID": release_id}


def proof_url_path(release: Path) -> str | None:
    """The URL path (`/_next/static/...`) that proves `release`'s build is the one served, for
    the health check; None when the release has no Next.js build id."""
    try:
        build_id = (release / ".next" / "BUILD_ID").read_text().strip()
    except OSError:
        return None
    if not build_id or "/" in build_id:
        return None
    return f"/_next/static/{proof_path(release, build_id)}"


def proof_path(release: Path, build_id: str) -> str:
    """A path under `/_next/static/` that only this release's build has, for the health check
    to ask for: `<BUILD_ID>/_buildManifest.js` when no other release has it, else (with a
    deployment id Next.js gives every build the same build id) the first file of this build's
    own output that no other release directory has. Falls back to the manifest path."""
    manifest = f"{build_id}/_buildManifest.js"
    if not _elsewhere(release, manifest):
        return manifest
    static = release / STATIC
    linked = read_manifest(release)
    for rel in static_files(static) if _real_dir(static) else []:
        if rel not in linked and rel.startswith("chunks/") and not _elsewhere(release, rel):
            return rel
    return manifest


def _elsewhere(release: Path, rel: str) -> bool:
    """True when a sibling release directory also has `.next/static/<rel>`."""
    try:
        siblings = [e for e in os.scandir(release.parent) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return False
    return any(
        os.path.lexists(Path(e.path) / STATIC / rel) for e in siblings if e.name != release.name
    )
