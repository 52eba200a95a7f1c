"""Per-release facts (.releases/meta/<id>.json): the typed ReleaseMeta, built and read here only.

A meta file is replaced atomically (tmp + rename, fsync'd). It is what makes a release
complete: a directory without a readable meta saying so is incomplete. Reading never fails: a
file that is missing, not JSON, not an object, of the wrong shape, a link or not a regular file
gives no ReleaseMeta and, when the file exists, a one-line warning naming it (the release then
counts as incomplete, and prune keeps it for a person to look at).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import NamedTuple, TypedDict

from releases_cli.core import jsonfields as jf
from releases_cli.core.clock import Clock, host, who
from releases_cli.core.compat import StrEnum
from releases_cli.core.fs import atomic_write
from releases_cli.core.ids import ReleaseId, id_time, is_valid_id, validate_id
from releases_cli.core.layout import DeployRoot
from releases_cli.core.statedir import StateFileError, opened_dir, read_at
from releases_cli.core.warn import warn_once

SCHEMA_VERSION = 1
META_LIMIT = 1 << 20  # a meta file is a few hundred bytes; anything past 1 MiB is not ours


class MetaStatus(StrEnum):
    """What a meta file can say. No meta (or an unreadable one) means incomplete."""

    COMPLETE = "complete"
    FAILED = "failed"


class SubmoduleInfo(TypedDict):
    path: str
    revision: str
    repo: str


class SourceInfo(TypedDict, total=False):
    """Where a release's code came from (a source's describe() | export())."""

    type: str  # dir / git / adopt / artifact
    path: str  # a directory source (or the adopted directory)
    repo: str  # a git source's URL, credentials redacted
    ref: str | None
    revision: str  # the commit deployed
    subject: str
    author: str
    committed_at: str
    submodules: list[SubmoduleInfo]
    artifact: str  # an artifact's content digest ("sha256:<hex>")
    built_on: str  # the host that packed the artifact
    built_at: str  # when (ISO 8601, UTC)


def _submodule(value: jf.JsonValue) -> SubmoduleInfo:
    if not isinstance(value, dict):
        raise jf.Malformed("a submodule is not an object")
    return {
        "path": jf.text(value.get("path")),
        "revision": jf.text(value.get("revision")),
        "repo": jf.text(value.get("repo")),
    }


_SOURCE_TEXT = (
    "type",
    "path",
    "repo",
    "revision",
    "subject",
    "author",
    "committed_at",
    "artifact",
    "built_on",
    "built_at",
)


def read_source(value: jf.JsonValue) -> SourceInfo:
    """A SourceInfo from JSON: known keys type-checked, unknown ones dropped."""
    if not isinstance(value, dict):
        raise jf.Malformed("source is not an object")
    info = SourceInfo()
    for key in _SOURCE_TEXT:
        if key in value:
            info[key] = jf.text(value[key])  # type: ignore[literal-required]
    if "ref" in value:
        info["ref"] = None if value["ref"] is None else jf.text(value["ref"])
    subs = value.get("submodules")
    if subs is not None:
        if not isinstance(subs, list):
            raise jf.Malformed("submodules is not an array")
        info["submodules"] = [_submodule(item) for item in subs]
    return info


def source_location(source: SourceInfo) -> str | None:
    """The repository URL, else the directory: what `list` shows as a release's source."""
    return source.get("repo") or source.get("path")


_STATUSES: dict[jf.JsonValue, MetaStatus] = {status.value: status for status in MetaStatus}


def _status(value: jf.JsonValue) -> MetaStatus:
    status = _STATUSES.get(value) if isinstance(value, str) else None
    if status is None:
        raise jf.Malformed(f"unknown status {value!r:.40}")
    return status


CODEC = jf.Codec(jf.BASE_READERS | {MetaStatus: _status, SourceInfo: read_source})


class ReleaseMeta(NamedTuple):
    """Everything recorded about one release. Built by `completed` / `failed` only."""

    id: ReleaseId
    status: MetaStatus
    created_at: datetime | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    build_seconds: float | None = None
    size: int | None = None  # bytes, measured when it completed
    source: SourceInfo = SourceInfo()  # one dict shared by every default: never mutate a source
    deps: str | None = None  # "installed" / "reused from <id>" (Next.js preset), else None
    build: tuple[str, ...] = ()
    deployed_by: str | None = None
    host: str | None = None
    error: str | None = None  # why it failed
    pinned: bool = False  # set by `releases pin`: prune keeps it
    adopted: bool = False  # made by `init --adopt`
    message: str | None = None  # the -m of the deploy or stage that built it
    pin_reason: str | None = None  # the -m of `releases pin`
    migrations: str | None = None  # digest of the [migrations] paths at build time

    @property
    def complete(self) -> bool:
        return self.status is MetaStatus.COMPLETE

    @classmethod
    def completed(
        cls,
        release_id: str,
        clock: Clock,
        source: SourceInfo,
        build_seconds: float,
        size: int,
        build: tuple[str, ...] = (),
        deps: str | None = None,
        adopted: bool = False,
        message: str | None = None,
        migrations: str | None = None,
    ) -> ReleaseMeta:
        """The meta of a release that was built completely (it can go live)."""
        return cls(
            release_id,
            MetaStatus.COMPLETE,
            created_at=id_time(release_id),
            completed_at=clock(),
            build_seconds=round(build_seconds, 3),
            size=size,
            source=source,
            deps=deps,
            build=build,
            deployed_by=who(),
            host=host(),
            adopted=adopted,
            message=message,
            migrations=migrations,
        )

    @classmethod
    def failed(
        cls,
        release_id: str,
        clock: Clock,
        source: SourceInfo,
        error: str,
        message: str | None = None,
    ) -> ReleaseMeta:
        """The meta of a release whose build (or copy) failed."""
        return cls(
            release_id,
            MetaStatus.FAILED,
            created_at=id_time(release_id),
            failed_at=clock(),
            source=source,
            deployed_by=who(),
            host=host(),
            error=error,
            message=message,
        )

    def pinned_as(self, pinned: bool, reason: str | None) -> ReleaseMeta:
        """This release, pinned (with why) or unpinned."""
        return self._replace(pinned=pinned, pin_reason=reason if pinned else None)

    def marked_failed(self, clock: Clock, error: str) -> ReleaseMeta:
        """This release, failed after it was complete (its health check failed): the build
        facts stay."""
        return self._replace(status=MetaStatus.FAILED, failed_at=clock(), error=error)


def write_meta(root: DeployRoot, meta: ReleaseMeta) -> None:
    """Replace a release's meta file atomically (fsync'd file and directory). A link planted at
    that name is replaced, never written through (rename replaces the link itself)."""
    body: jf.JsonObject = {"v": SCHEMA_VERSION, **jf.encode(meta, omit_defaults=False)}
    atomic_write(root.meta(meta.id), json.dumps(body, indent=2, sort_keys=True).encode())


class MetaFile(NamedTuple):
    """A meta file as read: the meta, or why an existing file gave none."""

    meta: ReleaseMeta | None
    problem: str | None = None  # set when the file exists but is unusable (then meta is None)


def parse_meta(release_id: str, data: bytes) -> ReleaseMeta:
    """The ReleaseMeta in `data`; Malformed says what is wrong with it."""
    obj = jf.loads_object(data)
    meta = CODEC.decode(ReleaseMeta, obj)
    if meta.id != release_id:
        raise jf.Malformed(f"it names release {meta.id!r}")
    return meta


def read_meta_files(root: DeployRoot, release_ids: list[str]) -> dict[str, MetaFile]:
    """The meta files of `release_ids`, read as data through one descriptor of meta/ (list
    reads 1,000 of them). Each unusable one is warned about once, naming it."""
    folder = str(root.meta_dir)  # a string, not a Path per release: list reads 1,000
    try:
        with opened_dir(root.state, "meta") as fd:
            return {r: _read_one(folder, fd, validate_id(r)) for r in release_ids}
    except FileNotFoundError:
        return {r: MetaFile(None) for r in release_ids}
    except (OSError, StateFileError) as error:
        warn_once(f"{error}: no meta file read (every release counts as incomplete)")
        return {r: MetaFile(None, str(error)) for r in release_ids}


def _read_one(folder: str, meta_fd: int, release_id: str) -> MetaFile:
    name = f"{release_id}.json"
    path = f"{folder}/{name}"
    try:
        meta = parse_meta(release_id, read_at(meta_fd, name, META_LIMIT, path))
    except FileNotFoundError:
        return MetaFile(None)
    except StateFileError as error:
        problem = str(error)
    except (OSError, jf.Malformed) as error:
        problem = f"{path}: {error}"
    else:
        return MetaFile(meta)
    warn_once(f"{problem}; release {release_id} counts as incomplete (kept, never pruned)")
    return MetaFile(None, problem)


def read_meta_file(root: DeployRoot, release_id: str) -> MetaFile:
    """One release's meta file (see read_meta_files)."""
    return read_meta_files(root, [release_id])[release_id]


def read_meta(root: DeployRoot, release_id: str) -> ReleaseMeta | None:
    """A release's meta, or None when missing or unusable (then it counts as incomplete)."""
    return read_meta_file(root, release_id).meta


def meta_ids(root: DeployRoot) -> list[str]:
    """Ids that have a meta file (including pruned releases' leftovers). Only regular files
    count: a link planted under an id's name must not drag new ids towards it."""
    try:
        with opened_dir(root.state, "meta") as fd, os.scandir(fd) as entries:
            names = [e.name for e in entries if e.is_file(follow_symlinks=False)]
    except (OSError, StateFileError):
        return []
    return [n[:-5] for n in names if n.endswith(".json") and is_valid_id(n[:-5])]
