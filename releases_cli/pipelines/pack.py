"""`releases pack`: build a release exactly as `stage` does, in a deploy root on the build
machine (a temporary one, or `--work DIR` kept for the next pack's dependency reuse and build
cache), then write it as one verified artifact (sources/artifact/).

The release keeps the id it is built as: Next.js bakes NEXT_DEPLOYMENT_ID (the release id) into
the build, so the server stages it under the same id (`stage --artifact` works like `--id`).
Static sharing is off here: it links earlier builds' files into the new one, which belongs on
the server (the server's stage does it against its own releases).

Pack deletes every other release of its work root, so it works only in a root of its own: one
marked `.releases/pack-work` when pack made it. A `--work DIR` that is (or looks like) a deploy
root (`.releases/`, `releases/` or `current` there, without the mark) is refused untouched.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from releases_cli.core import faults, leftovers, safefs
from releases_cli.core.clock import Clock, host, utc_now, who
from releases_cli.core.errors import InvalidInput, SystemFailure, UnsafeState
from releases_cli.core.fs import DIR_MODE, atomic_write, current_umask
from releases_cli.core.layout import PACK_WORK_MARK, DeployRoot
from releases_cli.core.meta import SourceInfo, read_meta
from releases_cli.core.report import Report
from releases_cli.nextjs import deps, preset, static_share
from releases_cli.pipelines.fleet import stage
from releases_cli.pipelines.stage import DeployOptions
from releases_cli.sources.artifact import container
from releases_cli.sources.artifact import manifest as mf
from releases_cli.sources.artifact.payload import Packed, write_payload

if TYPE_CHECKING:
    from releases_cli.config import Flags

log = logging.getLogger(__name__)
ENV_CAP = 64 << 10
ROOT_SIGNS = (".releases", "releases", "current")


@dataclass(frozen=True)
class PackResult:
    id: str
    digest: str
    size: int  # bytes of the artifact's content (compressed)
    tree_size: int  # bytes of the release tree packed
    native_count: int
    build_seconds: float
    seconds: float


def pack(
    work: DeployRoot,
    options: DeployOptions,
    out: IO[bytes],
    release_id: str | None = None,
    clock: Clock = utc_now,
    report: Report = lambda _line: None,
) -> PackResult:
    """Stage a release in `work`, write it to `out` as an artifact, and keep only it in `work`
    (the donor of the next pack's node_modules and build cache)."""
    started = time.monotonic()
    options = replace(options, build=options.build._replace(share_static="false"))
    staged = stage(work, options, release_id, clock, report)
    release = work.release(staged.id)
    with tempfile.TemporaryFile(dir=work.state) as spool:
        report(f"packing {release}")
        packed = write_payload(release, spool)
        manifest = _manifest(work, staged.id, staged.source, release, packed, options, clock)
        container.write(out, manifest, spool)
    if not work.is_pack_work():  # checked again: what pack deletes must be its own
        raise UnsafeState(f"{work.path} is not a pack work directory; nothing was removed")
    _drop_older(work, staged.id)
    return PackResult(
        staged.id,
        packed.digest,
        packed.size,
        packed.tree_size,
        len(packed.native),
        staged.build_seconds,
        time.monotonic() - started,
    )


def _manifest(
    work: DeployRoot,
    release_id: str,
    source: SourceInfo,
    release: Path,
    packed: Packed,
    options: DeployOptions,
    clock: Clock,
) -> mf.Manifest:
    runtime = mf.this_runtime()
    meta = read_meta(work, release_id)
    lockfile = deps.lockfile_name(release)
    is_next = preset.detect(release, options.build.preset).nextjs
    name = preset.read_package_json(release).get("name")
    return mf.Manifest(
        format=mf.FORMAT,
        id=release_id,
        digest=packed.digest,
        payload_size=packed.size,
        compression=mf.COMPRESSION,
        source=source,
        app=name if isinstance(name, str) else _app_name(source),
        build=meta.build if meta is not None else (),
        lockfile=lockfile,
        lockfile_sha256=_sha256(release, lockfile) if lockfile else None,
        node=runtime.node,
        platform=runtime.platform,
        arch=runtime.arch,
        libc=runtime.libc,
        native_count=len(packed.native),
        native=tuple(packed.native[: mf.NATIVE_SHOWN]),
        nextjs_build_id=static_share.read_build_id(release) if is_next else None,
        deployment_id=_deployment_id(release) if is_next else None,
        tree_size=packed.tree_size,
        files=packed.files,
        entries=packed.entries,
        built_at=clock(),
        built_on=host(),
        built_by=who(),
    )


def _app_name(source: SourceInfo) -> str | None:
    """The source directory's name, or the repository's (`shop` of `git@host:me/shop.git`)."""
    where = source.get("path") or source.get("repo") or ""
    name = where.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
    return name or None


def _sha256(release: Path, name: str) -> str | None:
    try:
        return hashlib.sha256(safefs.read_file(release, name, deps.LOCKFILE_CAP)).hexdigest()
    except OSError:
        return None


def _deployment_id(release: Path) -> str | None:
    """NEXT_DEPLOYMENT_ID as the release's .env.production.local sets it (ours, or the app's)."""
    try:
        text = safefs.read_file(release, static_share.DEPLOYMENT_ENV_FILE, ENV_CAP).decode()
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "NEXT_DEPLOYMENT_ID":
            return value.strip().strip("\"'") or None
    return None


def _drop_older(work: DeployRoot, keep: str) -> None:
    """Remove every other release of the work root: meta first (a half-removed tree is then
    incomplete, never a donor), then the tree."""
    for other in work.release_ids_on_disk():
        if other != keep:
            work.meta(other).unlink(missing_ok=True)
            safefs.remove_tree(work.releases, other)


def claim_work(work: DeployRoot) -> None:
    """Make `work` pack's work root: refuse one that is (or looks like) a deploy root, else
    lay it out and mark it. InvalidInput when refused (nothing is changed)."""
    if not work.is_pack_work():
        signs = [name for name in ROOT_SIGNS if os.path.lexists(work.path / name)]
        if signs:
            raise InvalidInput(
                f"--work {work.path} looks like a deploy root (it has {', '.join(signs)}); "
                "pack deletes the releases of its work directory: pass a new or empty one (a "
                "work directory an older releases kept has no mark: delete it once)"
            )
    work.ensure_layout()
    if not work.is_pack_work():
        atomic_write(work.state / PACK_WORK_MARK, b"a releases pack work directory\n")


def pack_command(
    output: str | None,
    stdout: IO[bytes],
    work: Path | None,
    flags: Flags,
    release_id: str | None,
    report: Report,
) -> PackResult:
    """`releases pack`: build in `work` (default: a scratch directory) with the flags and its
    releases.toml, and write the artifact to the file `output` (None: to `stdout`)."""
    from releases_cli.pipelines.sourcing import deploy_options

    with _work_root(work) as work_root, _output(output, stdout) as out:
        claim_work(work_root)
        options = deploy_options(work_root, flags, 0)
        return pack(work_root, options, out, release_id, report=report)


@contextmanager
def _work_root(work: Path | None) -> Iterator[DeployRoot]:
    if work is not None:
        work.mkdir(DIR_MODE, parents=True, exist_ok=True)
        yield DeployRoot.resolve(work)
        return
    # Named and held so that the next pack removes one a SIGKILL left (core/leftovers.py).
    with leftovers.scratch_dir(Path(tempfile.gettempdir()), "releases-pack") as scratch:
        yield DeployRoot.resolve(scratch)


@contextmanager
def _output(output: str | None, stdout: IO[bytes]) -> Iterator[IO[bytes]]:
    """`stdout`, or the file `output` written atomically: a temp file beside it
    (`.FILE.tmp-<pid>-<hex>`, flock'd while written), renamed when complete. Temps of FILE that
    an earlier pack killed before its rename left are removed first; a live pack's temp is left
    to it (leftovers.py)."""
    if output is None:
        yield stdout
        stdout.flush()
        return
    target = Path(output)
    try:
        leftovers.remove_stale_beside(target)
        fd, temp = leftovers.create(target.parent, target.name)
    except OSError as error:
        raise SystemFailure.of(error, f"cannot write {output}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
            faults.point("after_pack_write")
            os.chmod(temp, 0o666 & ~current_umask())  # as any new file: it may hold secrets
            os.replace(temp, target)  # before the close drops the flock
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
