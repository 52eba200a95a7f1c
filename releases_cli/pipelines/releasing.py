"""deploy, stage, switch and rollback as commands: releases.toml + the flags, the work, and the
[notify] webhooks around it (sent once the outcome is recorded; a failure to send warns).

The caller's `shown` renders the result inside the notification: the line it returns is the
notice's summary (an error's message is taken by itself)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple, TextIO

from releases_cli import config as config_mod
from releases_cli.core.errors import InvalidInput
from releases_cli.pipelines.sourcing import deploy_options

if TYPE_CHECKING:
    from releases_cli.config import Config, Flags
    from releases_cli.core.layout import DeployRoot
    from releases_cli.core.meta import SourceInfo
    from releases_cli.core.report import Report
    from releases_cli.pipelines.canary import Live
    from releases_cli.pipelines.deploy import DeployResult
    from releases_cli.pipelines.fleet import StageResult
    from releases_cli.pipelines.notify import Outcome
    from releases_cli.pipelines.publish import LiveOptions

Warn = Callable[[str], None]


class Switched(NamedTuple):
    """What `switch` and `rollback` made live."""

    id: str
    previous: str | None
    seconds: float
    pruned: list[str]  # release ids (a rollback prunes nothing)
    source: SourceInfo | None  # where the release came from (None: its meta is unreadable)


class Build(NamedTuple):
    """How a release is built: the flags, and an artifact instead of a source."""

    flags: Flags
    artifact: str | None
    wait: float
    override_freeze: bool
    message: str | None
    detach: bool = False  # deploy: a detached watcher finishes a canary or the watch


def deploy_command(
    root: DeployRoot,
    build: Build,
    force: bool,
    report: Report,
    warn: Warn,
    shown: Callable[[DeployResult], str],
    live_line: Warn | None = None,
) -> None:
    """`releases deploy`: build a release, make it live (with a canary first, and a watch
    after, as configured; `live_line` shows the live counts), prune."""
    from releases_cli.pipelines.deploy import deploy

    options = deploy_options(root, build.flags, build.wait, build.artifact)
    options = replace(
        options, force=force, override_freeze=build.override_freeze, message=build.message
    )
    options = replace(options, detach=build.detach)
    with _notifying(root, config_mod.load(root), warn) as outcome:
        outcome.summary = shown(deploy(root, options, report=report, live_line=live_line))


def stage_command(
    root: DeployRoot, build: Build, release_id: str | None, echo: TextIO, report: Report, warn: Warn
) -> StageResult:
    """`releases stage`: build a release without making it live; hooks' output to `echo`."""
    from releases_cli.pipelines.fleet import stage

    if build.artifact is not None and release_id is not None:
        raise InvalidInput("--id and --artifact are mutually exclusive: the artifact has its id")
    options = deploy_options(root, build.flags, build.wait, build.artifact)
    options = replace(options, override_freeze=build.override_freeze, message=build.message)
    options = replace(options, live=options.live._replace(echo=echo))
    with _notifying(root, config_mod.load(root), warn):
        return stage(root, options, release_id, report=report)


def switch_command(
    root: DeployRoot,
    release_id: str,
    flags: Flags,
    wait: float,
    message: str | None,
    override_freeze: bool,
    echo: TextIO | None,
    report: Report,
    warn: Warn,
    shown: Callable[[Switched], str],
    live_line: Warn | None = None,
) -> None:
    """`releases switch`: make a complete release live, prune, then watch it ([serve] watch;
    `live_line` shows the counts); restart and hook output to `echo` (None: stdout)."""
    from releases_cli.pipelines.canary import settings_of
    from releases_cli.pipelines.fleet import switch
    from releases_cli.pipelines.watch import Watching

    cfg = config_mod.load(root).with_flags(flags)
    live = _live(cfg, echo)
    with _notifying(root, cfg, warn) as outcome:
        result = switch(
            root,
            release_id,
            cfg.keep,
            wait,
            report=report,
            live=live,
            message=message,
            override_freeze=override_freeze,
            watching=Watching(settings_of(cfg), live_line or report),
        )
        pruned = [pruned_id for pruned_id, _ in result.pruned.deleted]
        source = _source_of(root, result.id)
        outcome.summary = shown(
            Switched(result.id, result.previous, result.seconds, pruned, source)
        )


def rollback_command(
    root: DeployRoot,
    to: str | None,
    flags: Flags,
    wait: float,
    message: str | None,
    force: bool,
    echo: TextIO | None,
    report: Report,
    warn: Warn,
    shown: Callable[[Switched], str],
) -> None:
    """`releases rollback`: make the previously live release (or `to`) live again."""
    from releases_cli.pipelines.rollback import rollback

    cfg = config_mod.load(root).with_flags(flags)
    live = _live(cfg, echo)
    with _notifying(root, cfg, warn) as outcome:
        result = rollback(
            root,
            to,
            wait,
            live=live,
            report=report,
            message=message,
            migrations=cfg.migrations,
            force=force,
        )
        source = _source_of(root, result.id)
        outcome.summary = shown(Switched(result.id, result.previous, result.seconds, [], source))


def _live(cfg: Config, echo: TextIO | None) -> LiveOptions:
    from releases_cli.pipelines.publish import live_options

    live = live_options(cfg)
    return live if echo is None else live._replace(echo=echo)


def _source_of(root: DeployRoot, release_id: str) -> SourceInfo | None:
    from releases_cli.core.meta import read_meta

    meta = read_meta(root, release_id)
    return meta.source if meta else None


@contextmanager
def _notifying(root: DeployRoot, cfg: Config, warn: Warn) -> Iterator[Outcome]:
    from releases_cli.pipelines.notify import notifying

    with notifying(root, cfg.notify, dict(os.environ), warn) as outcome:
        yield outcome


class Moved(NamedTuple):
    """What `promote` or `abort` did: the canary, the release that was stable, the line."""

    id: str
    other: str
    summary: str


def promote_command(
    root: DeployRoot, wait: float, report: Report, live_line: Live, warn: Warn
) -> Moved:
    """`releases promote`: all traffic to the running canary now, then the watch after that
    flip ([serve] watch)."""
    from releases_cli.core.clock import utc_now
    from releases_cli.pipelines import canary

    cfg = config_mod.load(root.require_initialized())
    settings = canary.settings_of(cfg)
    with _notifying(root, cfg, warn) as outcome:
        promoted, stable = canary.promote_and_watch(
            root, settings, utc_now, report, False, {}, live_line, wait
        )
        outcome.summary = f"promoted {promoted}: all traffic goes to it (previous: {stable})"
    return Moved(promoted, stable, outcome.summary)


def abort_command(root: DeployRoot, wait: float, report: Report, warn: Warn) -> Moved:
    """`releases abort`: all traffic back on the stable release now, the canary failed."""
    from releases_cli.core.clock import utc_now
    from releases_cli.pipelines import canary

    cfg = config_mod.load(root.require_initialized())
    settings = canary.settings_of(cfg)
    with _notifying(root, cfg, warn) as outcome:
        aborted, stable = canary.abort(
            root, settings, utc_now, report, False, "aborted by hand", {}, wait
        )
        outcome.summary = f"aborted the canary {aborted}: all traffic is back on {stable}"
    return Moved(aborted, stable, outcome.summary)
