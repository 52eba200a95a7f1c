"""Stage: the first step of every deploy (deploy, fleet `stage`, pack). Get the code into a
fresh releases/<id>/, build it there, and mark it complete; `current` is never touched. A
release that fails here is recorded as failed (meta + history) and never counts toward keep or
rollback.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from releases_cli.config import (
    AnalysisConfig,
    BuildConfig,
    HookPoint,
    MigrationsConfig,
    SharedConfig,
)
from releases_cli.core import faults, ids
from releases_cli.core.clock import Clock
from releases_cli.core.errors import BuildFailed, InvalidInput, ReleasesError, SystemFailure
from releases_cli.core.events import DeployFailed, DeployStarted, record
from releases_cli.core.fs import make_dir, sync_tree
from releases_cli.core.layout import DeployRoot, require_current_is_link
from releases_cli.core.meta import (
    ReleaseMeta,
    SourceInfo,
    meta_ids,
    read_meta,
    source_location,
    write_meta,
)
from releases_cli.core.report import Report, Stage, echo_for, stage
from releases_cli.core.run import release_env, run_logged
from releases_cli.core.statedir import open_append
from releases_cli.core.tree import tree_size
from releases_cli.core.units import human_size
from releases_cli.nextjs import preset, static_share
from releases_cli.pipelines import migrations
from releases_cli.pipelines.hooks import run_hooks
from releases_cli.pipelines.newid import check_new_id, known_ids
from releases_cli.pipelines.prepare import prepare_build
from releases_cli.pipelines.priority import build_priority
from releases_cli.pipelines.publish import LiveOptions, run_on_failure
from releases_cli.pipelines.shared import check_shared
from releases_cli.serving.strategy import Activation
from releases_cli.sources.base import Source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeployOptions:
    """What a deploy or stage does, from the checked config (see config.sections)."""

    source: Source
    build: BuildConfig = field(default_factory=BuildConfig)  # commands, preset, timeout, ...
    shared: SharedConfig = field(default_factory=SharedConfig)
    keep: int = 5
    wait: float = 0
    live: LiveOptions = field(default_factory=LiveOptions)  # serving strategy, hooks
    force: bool = False  # deploy even when the revision is already live
    override_freeze: bool = False  # run while deploys are frozen (recorded)
    message: str | None = None  # -m: recorded in the history and the meta
    migrations: MigrationsConfig = field(default_factory=MigrationsConfig)
    canary: tuple[tuple[int, float], ...] = ()  # (share %, seconds) stages; (): no canary
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)  # how a canary is judged
    detach: bool = False  # return once the canary runs: a detached watcher finishes it
    watch: float = 0  # seconds of watch after the flip ([serve] watch); 0: none

    @property
    def freeze_override(self) -> tuple[bool, str | None]:
        """What the freeze guard needs: the override flag and the recorded message."""
        return self.override_freeze, self.message


@dataclass(frozen=True)
class Staged:
    """A release that is built and complete but not (yet) live."""

    id: str
    previous: str | None  # what was current when staging started
    build_seconds: float
    size: int
    source: SourceInfo
    deps: str | None = None  # "installed" / "reused from <id>" (Next.js preset), else None


def preflight(root: DeployRoot, options: DeployOptions) -> None:
    """Checks before the lock (bad input fails before anything is made), then the layout."""
    options.source.check(root.path)
    check_shared(root, options.shared)  # a missing shared file fails before anything is made
    options.live.strategy.check(root)  # e.g. a path nginx cannot name, before the build
    root.ensure_layout()


def _taken(root: DeployRoot, built_as: str, digest: str | None) -> str:
    """What to do when an artifact's id is already used here: the same artifact deployed
    before, or another release that got the same id (a deploy in the second it was packed)."""
    meta = read_meta(root, built_as)
    if meta is not None and digest is not None and meta.source.get("artifact") == digest:
        return f"the artifact was deployed here before (`releases switch {built_as}`)"
    return (
        "it is another release's id here (one made in the same second as the artifact?); "
        "pack again with a new --id"
    )


def stage_release(
    root: DeployRoot,
    options: DeployOptions,
    clock: Clock,
    report: Report,
    started: float,
    release_id: str | None = None,
) -> Staged:
    """Stages fetch + build + complete, in a fresh releases/<id>/ (caller holds the lock).

    On any failure the release is recorded as failed (meta + history) and the error re-raised;
    `current` is never touched here.
    """
    previous = require_current_is_link(root).release_id
    options.source.prepare(root, report)  # a no-op when deploy() already did it
    built_as = options.source.fixed_id()  # an artifact's id: baked into its build
    if built_as is not None:
        again = _taken(root, built_as, options.source.describe().get("artifact"))
        release_id = check_new_id(built_as, known_ids(root), clock(), again)
    release_id = _allocate(root, clock, release_id)
    source_info = options.source.describe()
    record(root, DeployStarted(release_id, source_info), clock)
    act = Activation(root, release_id, previous, clock, report)  # for on_failure hooks
    report(f"release {release_id}: {root.release(release_id)}")
    faults.point("after_mkdir")
    try:
        with stage(report, _export_stage(source_info), _describe(source_info)):
            source_info |= options.source.export(root.release(release_id))
        prepared = prepare_build(
            root, release_id, previous, options.shared, options.build, report, built_as is not None
        )
        commands = prepared.commands
        faults.point("after_prepare")
        is_next = preset.detect(root.release(release_id), options.build.preset).nextjs
        env = release_env(root, release_id, previous)
        env |= static_share.deployment_env(root.release(release_id), release_id, is_next)
        build_seconds = _build(root, release_id, commands, options, env, report)
    except (ReleasesError, KeyboardInterrupt) as error:
        _fail(root, release_id, started, source_info, error, clock, options.message)
        if isinstance(error, ReleasesError):
            run_on_failure(act, options.live, error.message)
        raise
    except OSError as error:  # our own copying or linking, refused by a full or failing disk
        failure = SystemFailure.of(error, f"release {release_id} failed, current is unchanged")
        _fail(root, release_id, started, source_info, failure, clock, options.message)
        run_on_failure(act, options.live, failure.message)
        raise failure from None
    size = tree_size(root.release(release_id))
    if static_share.enabled(options.build.share_static, is_next):
        shared = static_share.share_static(
            root, release_id
        )  # before "complete": a crash drops it all
        if shared:
            report(f"static: linked {shared} file(s) of earlier builds into .next/static")
    schema = migrations.digest(root.release(release_id), options.migrations.paths)
    sync_tree(root.release(release_id))  # "complete" must never name files still in page cache
    meta = ReleaseMeta.completed(
        release_id,
        clock,
        source_info,
        build_seconds,
        size,
        commands,
        prepared.deps,
        message=options.message,
        migrations=schema,
    )
    write_meta(root, meta)
    report(f"complete: {release_id} ({human_size(size)})")
    faults.point("after_complete")
    return Staged(release_id, previous, build_seconds, size, source_info, prepared.deps)


def _export_stage(source_info: SourceInfo) -> str:
    """A directory source is copied; a fetched one (git) is exported from its mirror."""
    return Stage.COPY if source_info.get("type") == "dir" else Stage.EXPORT


def _describe(source_info: SourceInfo) -> str:
    digest = source_info.get("artifact")
    if digest:
        return f"artifact {digest[:19]} built on {source_info.get('built_on') or '?'}"
    where = source_location(source_info) or ""
    ref = source_info.get("ref")
    return f"{where} {ref}" if ref else where


def _allocate(root: DeployRoot, clock: Clock, wanted: str | None) -> str:
    """A new id after every known one (or the `wanted` one), and its new, empty directory."""
    known = root.release_ids_on_disk() + meta_ids(root)
    # A planted link or file with an id's name takes that id (mkdir would collide), but must not
    # drag new ids towards whatever far-future name it has: step past it only when hit.
    strays = set(root.id_named_strays())
    if wanted is None:
        release_id = ids.new_id(clock(), known)
        while release_id in strays:
            release_id = ids.new_id(clock(), [*known, release_id])
    else:
        release_id = ids.validate_id(wanted)
        if release_id in known or release_id in strays:
            raise InvalidInput(f"release {release_id} already exists")
    make_dir(root.release(release_id))
    return release_id


def _build(
    root: DeployRoot,
    release_id: str,
    commands: tuple[str, ...],
    options: DeployOptions,
    env: dict[str, str],
    report: Report,
) -> float:
    started = time.monotonic()
    log_path = root.log(release_id)
    os.close(open_append(log_path))  # a link planted there is replaced, never written through
    release = root.release(release_id)
    _hooks(options, "before_build", release, log_path, env, report)
    echo = echo_for(report, None)
    timeout = options.build.timeout or None  # 0: no limit
    log.debug("build environment: %s", env)
    priority = build_priority(options.build)
    for skipped in priority.skipped if commands else ():
        report(f"warning: {skipped}")
    for command in commands:
        with stage(report, Stage.BUILD, f"$ {command}"):
            faults.point("mid_build")
            try:
                code = run_logged(command, release, log_path, env, echo, timeout, priority.prefix)
            except subprocess.TimeoutExpired:
                raise BuildFailed(
                    f"build command {command!r} timed out after {timeout:g}s (build.timeout) "
                    f"and was stopped; current is unchanged; log: {log_path}"
                ) from None
            if code != 0:
                raise BuildFailed(
                    f"build command {command!r} failed with exit code {code}; "
                    f"current is unchanged; log: {log_path}"
                )
    _hooks(options, "after_build", release, log_path, env, report)
    return time.monotonic() - started


def _hooks(
    options: DeployOptions,
    point: HookPoint,
    release: Path,
    log_path: Path,
    env: dict[str, str],
    report: Report,
) -> None:
    failure = run_hooks(options.live.hooks, point, release, log_path, env, report)
    if failure is not None:
        raise BuildFailed(f"{failure.describe()}; current is unchanged; log: {log_path}")


def _fail(
    root: DeployRoot,
    release_id: str,
    started: float,
    source_info: SourceInfo,
    error: BaseException,
    clock: Clock,
    message: str | None,
) -> None:
    """Record a failed release (meta + history) so it never counts toward keep or rollback."""
    reason = error.message if isinstance(error, ReleasesError) else "interrupted"
    try:
        write_meta(root, ReleaseMeta.failed(release_id, clock, source_info, reason, message))
        seconds = round(time.monotonic() - started, 3)
        record(root, DeployFailed(release_id, reason, seconds, message), clock)
    except OSError as write_error:
        # A full disk must not hide the real error: the release stays incomplete (never live,
        # never counted) and the next command's recovery closes it in the history.
        log.warning("could not record the failure of %s: %s", release_id, write_error)
