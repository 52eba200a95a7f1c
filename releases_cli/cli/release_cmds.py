"""The commands that make releases and change what is live: init, deploy, stage, switch,
rollback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from releases_cli.cli import completion as complete
from releases_cli.cli.options import (
    ArtifactOption,
    BuildOption,
    CanaryOption,
    DetachOption,
    HealthUrlOption,
    JsonOption,
    KeepOption,
    MessageOption,
    OverrideFreezeOption,
    PresetOption,
    QuietOption,
    RefOption,
    ReleaseIdOption,
    RepoOption,
    RestartOption,
    RootOption,
    SourceOption,
    VerboseOption,
    WaitOption,
    WatchOption,
    deploy_root_of,
    path_text,
    say,
)
from releases_cli.cli.text import shown
from releases_cli.config import Flags
from releases_cli.core.layout import DeployRoot


def init(
    root: RootOption = None,
    adopt: Annotated[
        Path | None,
        typer.Option(
            "--adopt",
            metavar="DIR",
            help="Make this in-place app directory the first release (copied, left untouched).",
        ),
    ] = None,
    wait: WaitOption = 0,
) -> None:
    """Create the deploy root layout (releases/, shared/, .releases/), and the root directory
    itself when missing (default: the current directory).

    Example: releases init --root /srv/shop --adopt /srv/shop-app
    """
    deploy_root = deploy_root_of(root, discover=False)
    if adopt is not None:
        _adopt(deploy_root, adopt, wait)
        return
    from releases_cli.pipelines.initroot import init as run_init

    for path in run_init(deploy_root):
        say(f"created {path}")
    print(f"deploy root ready: {shown(str(deploy_root.path))}")


def deploy(
    root: RootOption = None,
    source: SourceOption = None,
    repo: RepoOption = None,
    ref: RefOption = None,
    artifact: ArtifactOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Deploy even if this commit is already live (a new release of it)."
        ),
    ] = False,
    override_freeze: OverrideFreezeOption = False,
    build: BuildOption = None,
    keep: KeepOption = None,
    preset: PresetOption = None,
    wait: WaitOption = 0,
    restart: RestartOption = None,
    health_url: HealthUrlOption = None,
    message: MessageOption = None,
    canary: CanaryOption = None,
    watch: WatchOption = None,
    detach: DetachOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Copy (or export from git) the code into a new release, build it there, switch `current`,
    restart, check health (switching back on failure), prune. With --canary (blue-green), a
    share of visitors gets it first; it is promoted or aborted (exit 12) by analysis.

    Example: releases deploy --source ~/shop --build "npm ci" --build "npx next build"

    Example: releases deploy --repo git@github.com:me/shop.git -m "fix checkout totals"

    Example: releases deploy --repo git@github.com:me/shop.git --ref v1.4.0

    Example: releases pack --source . -o - | ssh web1 releases deploy --artifact -
    """
    from releases_cli.cli import progress, summary
    from releases_cli.pipelines.deploy import DeployResult
    from releases_cli.pipelines.releasing import Build, deploy_command

    flags = Flags(
        keep=keep,
        source=path_text(source),
        repo=repo,
        ref=ref,
        build=build,
        preset=preset,
        restart=restart,
        health_url=health_url,
        canary=canary,
        watch=watch,
    )

    def show(result: DeployResult) -> str:
        if result.canary:
            line = summary.canary(result.id, result.canary, result.previous)
            print(line)
            return line
        if result.unchanged:
            revision = str(result.source.get("revision", ""))[:12]
            print(
                f"already live: release {result.id} is {revision} "
                f"{result.source.get('subject')!r}; nothing to do (pass --force to deploy it again)"
            )
            return ""
        pruned = [release_id for release_id, _ in result.pruned.deleted]
        line = summary.deployed(result.id, result.source, result.seconds, result.previous, pruned)
        print(line)
        return line

    reporter = progress.make_reporter(quiet, verbose)
    made = Build(flags, artifact, wait, override_freeze, message, detach)
    deploy_command(
        deploy_root_of(root), made, force, reporter, say, show, progress.live_line(reporter)
    )


def stage(
    root: RootOption = None,
    source: SourceOption = None,
    repo: RepoOption = None,
    ref: RefOption = None,
    artifact: ArtifactOption = None,
    build: BuildOption = None,
    preset: PresetOption = None,
    release_id: Annotated[
        str | None,
        typer.Option(
            "--id", metavar="ID", help="Release id to use (the same on every host); must be new."
        ),
    ] = None,
    wait: WaitOption = 0,
    message: MessageOption = None,
    override_freeze: OverrideFreezeOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Build a new release without making it live; print its id as the last line of stdout.

    Example: ID=$(releases stage --source ~/shop --build "npm ci")

    Example: releases stage --repo git@github.com:me/shop.git --ref v1.4.0 --id 20261126T101500Z

    Example: releases stage --artifact shop.artifact
    """
    from releases_cli.cli import progress, summary
    from releases_cli.pipelines.releasing import Build, stage_command

    deploy_root = deploy_root_of(root)
    # The same options as `deploy` builds with, so a staged release equals a deployed one.
    flags = Flags(source=path_text(source), repo=repo, ref=ref, build=build, preset=preset)
    made = Build(flags, artifact, wait, override_freeze, message)
    # stdout carries only the id, for scripts: progress, build and hook output go to stderr.
    reporter = progress.make_reporter(quiet, verbose, out=sys.stderr)
    result = stage_command(deploy_root, made, release_id, sys.stderr, reporter, say)
    say(summary.staged(deploy_root, result.id, result.source, result.seconds, result.previous))
    print(result.id)


def switch(
    release_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="A complete release to make live.",
            autocompletion=complete.release_ids,
        ),
    ],
    root: RootOption = None,
    keep: KeepOption = None,
    wait: WaitOption = 0,
    restart: RestartOption = None,
    health_url: HealthUrlOption = None,
    as_json: JsonOption = False,
    message: MessageOption = None,
    override_freeze: OverrideFreezeOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Make a staged (or any complete) release live: atomic switch, restart, check health
    (switching back on failure), prune.

    Example: releases switch 20261126T101500Z -m "fleet rollout 42"
    """
    from releases_cli.cli import progress, render, summary
    from releases_cli.pipelines.releasing import Switched, switch_command

    def show(done: Switched) -> str:
        line = summary.switched("switched to", done.id, done.source, done.seconds, done.previous)
        line = f"{line}; pruned {len(done.pruned)}"
        print(
            render.switch_json(done.id, done.previous, done.seconds, done.pruned)
            if as_json
            else line
        )
        return line

    flags = Flags(keep=keep, restart=restart, health_url=health_url)
    # With --json, stdout carries only the JSON: progress, restart and hook output go to stderr.
    echo = sys.stderr if as_json else None
    reporter = progress.make_reporter(quiet, verbose, out=echo)
    switch_command(
        deploy_root_of(root),
        release_id,
        flags,
        wait,
        message,
        override_freeze,
        echo,
        reporter,
        say,
        show,
        progress.live_line(reporter),
    )


def rollback(
    root: RootOption = None,
    to: ReleaseIdOption = None,
    wait: WaitOption = 0,
    restart: RestartOption = None,
    health_url: HealthUrlOption = None,
    as_json: JsonOption = False,
    message: MessageOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help='Roll back even when migrations differ (migrations.rollback = "refuse").',
        ),
    ] = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Switch `current` back to the previously live release (or --to ID). No rebuild. Then
    restart and check health when configured. Works while deploys are frozen.

    Example: releases rollback --to 20261126T093000Z -m "checkout 500s after deploy"
    """
    from releases_cli.cli import progress, render, summary
    from releases_cli.pipelines.releasing import Switched, rollback_command

    def show(done: Switched) -> str:
        line = summary.switched("rolled back to", done.id, done.source, done.seconds, done.previous)
        # With --json, the shape of `switch --json` (a rollback prunes nothing).
        print(render.switch_json(done.id, done.previous, done.seconds, []) if as_json else line)
        return line

    flags = Flags(restart=restart, health_url=health_url)
    echo = sys.stderr if as_json else None  # as `switch --json`: stdout carries only the JSON
    reporter = progress.make_reporter(quiet, verbose, out=echo)
    rollback_command(
        deploy_root_of(root), to, flags, wait, message, force, echo, reporter, say, show
    )


def _adopt(deploy_root: DeployRoot, path: Path, wait: float) -> None:
    from releases_cli.pipelines.adopt import adopt as run_adopt

    result = run_adopt(deploy_root, path, wait)
    print(f"adopted {shown(str(result.adopted))} as release {result.id} in {result.seconds:.1f}s")
    print(f"current -> releases/{result.id}")
    if result.parked is not None:
        parked = shown(str(result.parked))
        print(f"the old directory is kept at {parked} (remove it once PM2 has reloaded)")
    for line in result.instructions:
        print(line)


COMMANDS = (
    ("init", init),
    ("deploy", deploy),
    ("stage", stage),
    ("switch", switch),
    ("rollback", rollback),
)
