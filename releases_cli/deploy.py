"""The deploy pipeline as explicit stages: prepare, fetch, build, complete, switch, prune."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from releases_cli import history, ids, lock
from releases_cli.build import run_all
from releases_cli.errors import BuildFailed, InvalidInput, ReleasesError
from releases_cli.fsutil import tree_size
from releases_cli.history import COMPLETE, FAILED, Clock, iso, record, utc_now
from releases_cli.layout import DeployRoot, require_current_is_link
from releases_cli.prune import PruneResult, prune_releases
from releases_cli.recovery import recover
from releases_cli.state import SWITCH
from releases_cli.switch import switch_to

log = logging.getLogger(__name__)

Report = Callable[[str], None]


class Source(Protocol):
    def describe(self) -> dict[str, Any]: ...
    def check(self, deploy_root: Path) -> None: ...
    def export(self, dest: Path) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DeployOptions:
    source: Source
    build: tuple[str, ...] = ()
    keep: int = 5
    wait: float = 0
    echo: TextIO | None = None  # where build output goes (default: stdout)


@dataclass(frozen=True)
class DeployResult:
    id: str
    previous: str | None
    seconds: float
    build_seconds: float
    size: int
    source: dict[str, Any]
    pruned: PruneResult
    notes: tuple[str, ...] = field(default_factory=tuple)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def deploy(
    root: DeployRoot, options: DeployOptions, clock: Clock = utc_now, report: Report = _stderr
) -> DeployResult:
    """Build a new release from `options.source` and make it current."""
    if options.keep < 1:
        raise InvalidInput(f"--keep must be at least 1, got {options.keep}")
    options.source.check(root.path)
    root.ensure_layout()
    started = time.monotonic()
    with lock.hold(root, options.wait, clock):
        notes = recover(root, clock)
        for note in notes:
            report(f"recovered: {note}")
        previous = require_current_is_link(root).release_id
        release_id = _allocate(root, clock)
        source_info = options.source.describe()
        record(root, "deploy_started", clock, id=release_id, source=source_info)
        report(f"release {release_id}: {root.release(release_id)}")
        env = build_env(root, release_id, previous)
        try:
            source_info |= options.source.export(root.release(release_id))
            build_seconds = _build(root, release_id, options, env, report)
        except (ReleasesError, KeyboardInterrupt) as error:
            _fail(root, release_id, started, source_info, error, clock)
            raise
        size = tree_size(root.release(release_id))
        history.write_meta(
            root,
            release_id,
            {
                "status": COMPLETE,
                "created_at": iso(ids.id_time(release_id)),
                "completed_at": iso(clock()),
                "build_seconds": round(build_seconds, 3),
                "size": size,
                "source": source_info,
                "deployed_by": history.who(),
                "host": history.host(),
                "build": list(options.build),
            },
        )
        switch_to(root, release_id)
        record(root, SWITCH, clock, id=release_id, previous=previous, reason="deploy")
        report(f"switched current -> releases/{release_id}")
        seconds = time.monotonic() - started
        record(
            root,
            "deploy_finished",
            clock,
            id=release_id,
            previous=previous,
            seconds=round(seconds, 3),
        )
        pruned = prune_releases(root, options.keep, clock=clock)
    return DeployResult(
        release_id, previous, seconds, build_seconds, size, source_info, pruned, tuple(notes)
    )


def build_env(root: DeployRoot, release_id: str, previous: str | None) -> dict[str, str]:
    """Variables every build command and hook sees."""
    return {
        "RELEASE_ID": release_id,
        "RELEASE_PATH": str(root.release(release_id)),
        "PREVIOUS_RELEASE_ID": previous or "",
        "DEPLOY_ROOT": str(root.path),
    }


def _allocate(root: DeployRoot, clock: Clock) -> str:
    """A new id after every known one, and its (new, empty) directory."""
    known = root.release_ids_on_disk() + history.meta_ids(root)
    release_id = ids.new_id(clock(), known)
    root.release(release_id).mkdir()
    return release_id


def _build(
    root: DeployRoot, release_id: str, options: DeployOptions, env: dict[str, str], report: Report
) -> float:
    started = time.monotonic()
    log_path = root.log(release_id)
    log_path.touch()
    for command in options.build:
        report(f"build: $ {command}")
        failure = run_all([command], root.release(release_id), log_path, env, options.echo)
        if failure is not None:
            raise BuildFailed(
                f"build command {failure.command!r} failed with exit code {failure.returncode}; "
                f"current is unchanged; log: {log_path}"
            )
    return time.monotonic() - started


def _fail(
    root: DeployRoot,
    release_id: str,
    started: float,
    source_info: dict[str, Any],
    error: BaseException,
    clock: Clock,
) -> None:
    """Record a failed release (meta + history) so it never counts toward keep or rollback."""
    reason = error.message if isinstance(error, ReleasesError) else "interrupted"
    history.write_meta(
        root,
        release_id,
        {
            "status": FAILED,
            "created_at": iso(ids.id_time(release_id)),
            "failed_at": iso(clock()),
            "error": reason,
            "source": source_info,
            "deployed_by": history.who(),
            "host": history.host(),
        },
    )
    record(
        root,
        "deploy_failed",
        clock,
        id=release_id,
        error=reason,
        seconds=round(time.monotonic() - started, 3),
    )
