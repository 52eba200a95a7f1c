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

from releases_cli.core import faults, safefs
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import read_meta
from releases_cli.core.tree import regular_files
from releases_cli.nextjs.choices import ShareStatic

log = logging.getLogger(__name__)

MANIFEST = ".next/releases-static.json"
STATIC = ".next/static"
BUILD_ID = ".next/BUILD_ID"
MANIFEST_CAP = 32 << 20  # a manifest names one line per shared file: megabytes at most
BUILD_ID_CAP = 4096  # a build id is a short word


def enabled(setting: ShareStatic, nextjs: bool) -> bool:
    """`auto` follows the Next.js preset; `true` / `false` force it on / off."""
    return setting == "true" or (setting == "auto" and nextjs)


def read_manifest(release: Path) -> dict[str, str]:
    """Shared path (relative to .next/static) -> id of the release whose build produced it."""
    try:
        data = json.loads(safefs.read_file(release, MANIFEST, MANIFEST_CAP))
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
    safefs.replace_file(release, MANIFEST, body)


def static_files(release: Path) -> list[str]:
    """Regular files under the release's `.next/static`, as relative posix paths; [] when
    `.next` or `.next/static` is not a real directory. Symlinks are never followed."""
    return regular_files(release, STATIC)


def _donors(root: DeployRoot, release_id: str) -> list[str]:
    """Complete releases on disk other than `release_id`, newest first."""
    result = []
    for other in reversed(root.release_ids_on_disk()):
        meta = read_meta(root, other) if other != release_id else None
        if meta is not None and meta.complete:
            result.append(other)
    return result


def read_build_id(release: Path) -> str | None:
    """The release's `.next/BUILD_ID` (a regular file, read with a cap), or None."""
    try:
        build_id = safefs.read_file(release, BUILD_ID, BUILD_ID_CAP).decode().strip()
    except safefs.UnsafePath as error:
        log.warning("not using the build id: %s", error)
        return None
    except (OSError, UnicodeDecodeError):
        return None
    return build_id or None


def plan_links(root: DeployRoot, release_id: str) -> dict[str, tuple[str, str]]:
    """What `share_static` would link: relative path -> (donor release, origin release)."""
    dest = root.release(release_id)
    if not safefs.is_real_dir(dest, STATIC):
        return {}
    own = set(static_files(dest))
    plan: dict[str, tuple[str, str]] = {}
    for donor in _donors(root, release_id):
        release = root.release(donor)
        origins = read_manifest(release)
        build_dir = (read_build_id(release) or "/") + "/"  # no build id: "/" matches nothing
        for rel in static_files(release):
            # A build's <BUILD_ID>/ files stay its own: the health check asks for its
            # _buildManifest.js to tell which build a server runs (an old page never needs it).
            if rel not in own and rel not in plan and not rel.startswith(build_dir):
                plan[rel] = (donor, origins.get(rel, donor))
    return plan


def share_static(root: DeployRoot, release_id: str) -> int:
    """Hardlink the kept complete releases' static files that `release_id` lacks into it.

    Caller holds the lock. Returns how many files were linked. A file that cannot be linked
    (or whose path in either release holds a symlink) is skipped: sharing only widens what is
    served, and the release works without it.
    """
    plan = plan_links(root, release_id)
    if not plan:
        return 0
    release = root.release(release_id)
    manifest = read_manifest(release)
    try:
        _write_manifest(release, manifest | {rel: origin for rel, (_, origin) in plan.items()})
    except OSError as error:
        log.warning("not sharing static files into %s: %s", release_id, safefs.describe(error))
        return 0
    linked = 0
    for rel, (donor, _origin) in plan.items():
        try:
            _link_one(root.release(donor), release, rel)
        except FileExistsError:
            continue
        except OSError as error:
            log.warning("could not share %s from %s: %s", rel, donor, safefs.describe(error))
            continue
        linked += 1
        if linked == 1:
            faults.point("mid_share")
    return linked


def _link_one(donor: Path, release: Path, rel: str) -> None:
    """Hardlink `donor`'s `.next/static/<rel>` to the same path in `release`: both reached
    without following a link, the missing directories made in `release`."""
    with (
        safefs.dir_at(donor, STATIC) as src_static,
        safefs.dir_at(release, STATIC) as dest_static,
        safefs.parent_of(src_static, rel) as (src_dir, name),
        safefs.parent_of(dest_static, rel, create=True) as (dest_dir, _),
    ):
        safefs.link_file(src_dir, name, dest_dir, name)


def forget(root: DeployRoot, pruned_id: str) -> int:
    """Remove from every other release the static files that came only from `pruned_id`'s build.

    Called by prune before the release is taken out (caller holds the lock). Files are unlinked
    first and the manifest rewritten after: a crash in between leaves entries for files already
    gone, which the next prune of that origin skips. Only regular files inside the release's
    real `.next/static` are ever removed: an entry naming `..`, a directory, or a path through a
    symlink (a commit may plant `.next/static -> /elsewhere` and a manifest) is skipped.
    Returns how many files were removed.
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
        removed += _unlink_static(release, doomed)
        faults.point("mid_forget")
        try:
            _write_manifest(release, {k: v for k, v in manifest.items() if v != pruned_id})
        except OSError as error:
            log.warning("could not rewrite the manifest of %s: %s", other, safefs.describe(error))
    return removed


def _unlink_static(release: Path, doomed: list[str]) -> int:
    removed = 0
    try:
        with safefs.dir_at(release, STATIC) as static:
            for rel in doomed:
                try:
                    removed += safefs.unlink_file(static, rel)
                except OSError as error:
                    log.warning("not removing %s: %s", rel, safefs.describe(error))
    except OSError as error:
        log.warning("not removing shared static files: %s", safefs.describe(error))
    return removed


# Next.js reads NEXT_DEPLOYMENT_ID at build *and* at `next start`; the two must agree (with an
# id at build time only, every build gets the same constant build id and the client can no
# longer tell builds apart). The build gets it exported, `next start` reads it from this file,
# which Next loads in the release directory however the process manager starts it.
DEPLOYMENT_ENV_FILE = ".env.production.local"


def deployment_env(release: Path, release_id: str, nextjs: bool) -> dict[str, str]:
    """NEXT_DEPLOYMENT_ID = the release id for a Next.js build, recorded for `next start` in the
    release's .env.production.local; {} when not Next.js or when the app ships that file itself
    (it is the app's to own: then the deployment id is left to the app). Created with O_EXCL |
    O_NOFOLLOW in the release directory: a symlink of that name is the app's, never written
    through."""
    if not nextjs:
        return {}
    body = (
        "# Written by `releases deploy`: Next.js's deployment id for this build (skew.py).\n"
        f"NEXT_DEPLOYMENT_ID={release_id}\n"
    )
    try:
        safefs.write_new(release, DEPLOYMENT_ENV_FILE, body.encode())
    except FileExistsError:
        return {}
    return {"NEXT_DEPLOYMENT_ID": release_id}


def proof_url_path(release: Path) -> str | None:
    """The URL path (`/_next/static/...`) that proves `release`'s build is the one served, for
    the health check; None when the release has no Next.js build id."""
    build_id = read_build_id(release)
    if build_id is None or not _plain_word(build_id):
        return None
    return f"/_next/static/{proof_path(release, build_id)}"


def _plain_word(build_id: str) -> bool:
    """A build id that can be one URL path segment as it is (Next's are nanoids or hashes)."""
    allowed = "._-"
    return (
        build_id.isascii()
        and not build_id.startswith(".")
        and all(c.isalnum() or c in allowed for c in build_id)
    )


def proof_path(release: Path, build_id: str) -> str:
    """A path under `/_next/static/` that only this release's build has, for the health check
    to ask for: `<BUILD_ID>/_buildManifest.js` when no other release has it, else (with a
    deployment id Next.js gives every build the same build id) the first file of this build's
    own output that no other release directory has. Falls back to the manifest path."""
    manifest = f"{build_id}/_buildManifest.js"
    if not _elsewhere(release, manifest):
        return manifest
    linked = read_manifest(release)
    for rel in static_files(release):
        if rel not in linked and rel.startswith("chunks/") and not _elsewhere(release, rel):
            return rel
    return manifest


def _elsewhere(release: Path, rel: str) -> bool:
    """True when a sibling release directory also has `.next/static/<rel>` (looked up without
    following a link anywhere on the way)."""
    try:
        siblings = [e for e in os.scandir(release.parent) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return False
    return any(
        safefs.lexists(Path(e.path), f"{STATIC}/{rel}") for e in siblings if e.name != release.name
    )
