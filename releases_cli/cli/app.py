"""The `releases` command line: parse, call the core, render. No filesystem logic here."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from releases_cli import config as config_mod
from releases_cli.cli import completion as complete
from releases_cli.cli import outcome
from releases_cli.config import Flags
from releases_cli.core import reserve
from releases_cli.core.clock import utc_now
from releases_cli.core.errors import ExitCode, InvalidInput, NotFound, ReleasesError
from releases_cli.core.layout import DeployRoot

if TYPE_CHECKING:
    from releases_cli.config import SourceConfig
    from releases_cli.pipelines.deploy import DeployOptions
    from releases_cli.sources.base import Source


class UsageError(ReleasesError):
    """The command line cannot be parsed: unknown option or command, missing argument or value,
    a value that is not a number. (A value that parses but is not valid is InvalidInput.)"""

    exit_code = ExitCode.USAGE


class _Commands(TyperGroup):
    """Reports usage errors in one line, like every other error, instead of click's box."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        # Not standalone: click then raises its errors to us instead of printing them.
        try:
            result = super().main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )
        except typer.TyperException as error:  # the base of click's errors in typer
            if error.exit_code != ExitCode.USAGE:
                raise
            if type(error).__name__ == "NoArgsIsHelpError":  # `releases` alone: the help
                print(error.format_message(), file=sys.stderr, end="")
                sys.exit(error.exit_code)
            message = " ".join(error.format_message().split()).rstrip(".")
            context = getattr(error, "ctx", None)
            path = context.command_path if context is not None else "releases"
            raise UsageError(f"{message}; see '{path} --help'") from None
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)  # an Exit's code, else success


app = typer.Typer(
    cls=_Commands,
    help="Zero-downtime, instantly reversible deploys: releases/<id>/ + an atomic `current` link.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _checked_wait(ctx: typer.Context, seconds: float) -> float:
    return seconds if ctx.resilient_parsing else config_mod.check_wait(seconds)


RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        envvar="RELEASES_ROOT",
        show_envvar=True,
        help="Deploy root (default: the current directory).",
    ),
]
WaitOption = Annotated[
    float,
    typer.Option(
        "--wait", callback=_checked_wait, help="Wait up to SECONDS for the lock instead of failing."
    ),
]
RestartOption = Annotated[
    str | None,
    typer.Option("--restart", help="Command run after the switch ([restart] command)."),
]
HealthUrlOption = Annotated[
    str | None,
    typer.Option("--health-url", help="URL that must answer after the restart ([health] url)."),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (versioned shape, see README).")
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the final summary line (and errors).")
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also print the tool's own log messages.")
]
SourceOption = Annotated[Path | None, typer.Option("--source", help="Directory to deploy from.")]
RepoOption = Annotated[
    str | None, typer.Option("--repo", help="Git repository (URL or path) to deploy from.")
]
RefOption = Annotated[
    str | None,
    typer.Option("--ref", help="Branch, tag or commit to deploy (default: remote HEAD)."),
]
BuildOption = Annotated[
    list[str] | None, typer.Option("--build", help="Build command (repeatable).")
]
KeepOption = Annotated[int | None, typer.Option("--keep", help="Complete releases to keep.")]
PresetOption = Annotated[
    str | None, typer.Option("--preset", help="Build preset: auto (default), nextjs or none.")
]
ReleaseIdOption = Annotated[
    str | None,
    typer.Option("--to", help="Release id to switch to.", autocompletion=complete.release_ids),
]


def _root(root: Path | None) -> DeployRoot:
    return DeployRoot.resolve(root)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@app.command()
def init(
    root: RootOption = None,
    adopt: Annotated[
        Path | None,
        typer.Option(
            "--adopt",
            help="Make this in-place app directory the first release (copied, left untouched).",
        ),
    ] = None,
    wait: WaitOption = 0,
) -> None:
    """Create the deploy root layout (releases/, shared/, .releases/).

    Example: releases init --root /srv/shop --adopt /srv/shop-app
    """
    deploy_root = _root(root)
    if adopt is not None:
        _adopt(deploy_root, adopt, wait)
        return
    created = deploy_root.ensure_layout()
    for path in created:
        _say(f"created {path}")
    reserve.ensure(deploy_root)
    print(f"deploy root ready: {deploy_root.path}")


@app.command()
def deploy(
    root: RootOption = None,
    source: SourceOption = None,
    repo: RepoOption = None,
    ref: RefOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Deploy even if this commit is already live.")
    ] = False,
    build: BuildOption = None,
    keep: KeepOption = None,
    preset: PresetOption = None,
    wait: WaitOption = 0,
    restart: RestartOption = None,
    health_url: HealthUrlOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Copy (or export from git) the code into a new release, build it there, switch `current`,
    restart, check health (switching back on failure), prune.

    Example: releases deploy --source ~/shop --build "npm ci" --build "npx next build"

    Example: releases deploy --repo git@github.com:me/shop.git --ref v1.4.0
    """
    from releases_cli.cli import progress, summary
    from releases_cli.pipelines.deploy import deploy as run_deploy

    deploy_root = _root(root)
    flags = Flags(
        keep=keep,
        source=_str(source),
        repo=repo,
        ref=ref,
        build=build,
        preset=preset,
        restart=restart,
        health_url=health_url,
    )
    options = _deploy_options(deploy_root, flags, wait)
    result = run_deploy(
        deploy_root,
        replace(options, force=force),
        report=progress.make_reporter(quiet, verbose),
    )
    if result.unchanged:
        revision = str(result.source.get("revision", ""))[:12]
        print(
            f"already live: release {result.id} is {revision} {result.source.get('subject')!r}; "
            "nothing to do (pass --force to deploy it again)"
        )
        return
    pruned = [release_id for release_id, _ in result.pruned.deleted]
    print(summary.deployed(result.id, result.source, result.seconds, result.previous, pruned))


@app.command()
def stage(
    root: RootOption = None,
    source: SourceOption = None,
    repo: RepoOption = None,
    ref: RefOption = None,
    build: BuildOption = None,
    preset: PresetOption = None,
    release_id: Annotated[
        str | None,
        typer.Option("--id", help="Release id to use (the same on every host); must be new."),
    ] = None,
    wait: WaitOption = 0,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Build a new release without making it live; print its id as the last line of stdout.

    Example: ID=$(releases stage --source ~/shop --build "npm ci")

    Example: releases stage --repo git@github.com:me/shop.git --ref v1.4.0 --id 20261126T101500Z
    """
    from releases_cli.cli import progress, summary
    from releases_cli.pipelines.fleet import stage as run_stage

    deploy_root = _root(root)
    # The same options as `deploy` builds with, so a staged release equals a deployed one.
    flags = Flags(source=_str(source), repo=repo, ref=ref, build=build, preset=preset)
    options = _deploy_options(deploy_root, flags, wait)
    options = replace(options, live=replace(options.live, echo=sys.stderr))  # hooks' output
    # stdout carries only the id, for scripts: progress and build output go to stderr.
    reporter = progress.make_reporter(quiet, verbose, out=sys.stderr)
    result = run_stage(deploy_root, options, release_id, report=reporter)
    _say(summary.staged(result.id, result.source, result.seconds, result.previous))
    print(result.id)


@app.command()
def switch(
    release_id: Annotated[
        str,
        typer.Argument(
            help="A complete release to make live.", autocompletion=complete.release_ids
        ),
    ],
    root: RootOption = None,
    keep: KeepOption = None,
    wait: WaitOption = 0,
    restart: RestartOption = None,
    health_url: HealthUrlOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Make a staged (or any complete) release live: atomic switch, restart, check health
    (switching back on failure), prune.

    Example: releases switch 20261126T101500Z
    """
    from releases_cli.cli import progress, render, summary
    from releases_cli.core.meta import read_meta
    from releases_cli.pipelines.fleet import switch as run_switch
    from releases_cli.pipelines.golive import live_options

    deploy_root = _root(root)
    flags = Flags(keep=keep, restart=restart, health_url=health_url)
    cfg = config_mod.load(deploy_root).with_flags(flags)
    live = live_options(cfg)
    if as_json:  # stdout carries only the JSON: restart and hook output go to stderr
        live = replace(live, echo=sys.stderr)
    reporter = progress.make_reporter(quiet, verbose, out=sys.stderr if as_json else None)
    result = run_switch(deploy_root, release_id, cfg.keep, wait, report=reporter, live=live)
    pruned = [pruned_id for pruned_id, _ in result.pruned.deleted]
    if as_json:
        print(render.switch_json(result.id, result.previous, result.seconds, pruned))
        return
    meta = read_meta(deploy_root, result.id)
    source = meta.source if meta else None
    line = summary.switched("switched to", result.id, source, result.seconds, result.previous)
    print(f"{line}; pruned {len(pruned)}")


@app.command()
def rollback(
    root: RootOption = None,
    to: ReleaseIdOption = None,
    wait: WaitOption = 0,
    restart: RestartOption = None,
    health_url: HealthUrlOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Switch `current` back to the previously live release (or --to ID). No rebuild. Then
    restart and check health when configured.

    Example: releases rollback --to 20261126T093000Z
    """
    from releases_cli.cli import progress, summary
    from releases_cli.core.meta import read_meta
    from releases_cli.pipelines.golive import live_options
    from releases_cli.pipelines.rollback import rollback as run_rollback

    deploy_root = _root(root)
    cfg = config_mod.load(deploy_root).with_flags(Flags(restart=restart, health_url=health_url))
    reporter = progress.make_reporter(quiet, verbose)
    result = run_rollback(deploy_root, to, wait, live=live_options(cfg), report=reporter)
    meta = read_meta(deploy_root, result.id)
    source = meta.source if meta else None
    print(summary.switched("rolled back to", result.id, source, result.seconds, result.previous))


@app.command("list")
def list_(root: RootOption = None, as_json: JsonOption = False) -> None:
    """List releases, newest first: status, age, size, revision, who deployed, build time.

    Example: releases list --json
    """
    from releases_cli.cli import render
    from releases_cli.core.inuse import release_users
    from releases_cli.core.state import snapshot

    deploy_root = _root(root)
    if not deploy_root.is_initialized():
        raise NotFound(f"{deploy_root.path} is not a deploy root (run `releases init`)")
    snap = snapshot(deploy_root)
    in_use = release_users(deploy_root.releases)
    now = utc_now()
    if as_json:
        print(render.list_json(snap, now, in_use))
        return
    print(render.list_table(snap, now, in_use))
    for warning in render.warnings(snap):
        _say(f"warning: {warning}")


@app.command()
def status(root: RootOption = None, as_json: JsonOption = False) -> None:
    """Print the live release: id, path, revision, who deployed it and when, rollback target.

    Exits 4 when nothing is live (with --json, after printing the JSON).

    Example: releases status --json
    """
    from releases_cli.cli import render
    from releases_cli.core.inuse import release_users
    from releases_cli.core.state import snapshot

    deploy_root = _root(root)
    snap = snapshot(deploy_root)
    now = utc_now()
    live = snap.get(snap.current_id) if snap.current_id else None
    record = (
        render.release_record(snap, live, now, release_users(deploy_root.releases))
        if live
        else None
    )
    if as_json:
        print(render.status_json(snap, record))
    elif record is not None:
        print(render.status_text(record, snap.previous))
    for warning in render.warnings(snap):
        _say(f"warning: {warning}")
    if snap.current_id is None:
        raise NotFound(f"no release is live in {deploy_root.path}")


@app.command()
def prune(
    root: RootOption = None,
    keep: KeepOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would go.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Also delete releases in use.")] = False,
    wait: WaitOption = 0,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Delete releases beyond the newest N complete ones (failed and incomplete go first).

    Example: releases prune --keep 3 --dry-run
    """
    import time

    from releases_cli.cli import progress, summary
    from releases_cli.core.prune import empty_trash
    from releases_cli.core.recovery import exclusive
    from releases_cli.core.report import Stage, stage
    from releases_cli.pipelines.retention import prune_releases

    deploy_root = _root(root)
    if not deploy_root.is_initialized():
        raise NotFound(f"{deploy_root.path} is not a deploy root (run `releases init`)")
    cfg = config_mod.load(deploy_root).with_flags(Flags(keep=keep))
    reporter = progress.make_reporter(quiet, verbose)
    started = time.monotonic()
    label = f"keep={cfg.keep}" + (" (dry run)" if dry_run else "")
    # use_reserve: on a full disk, prune spends the space kept back for it (core/reserve.py).
    with (
        exclusive(deploy_root, wait, utc_now, reporter, use_reserve=not dry_run),
        stage(reporter, Stage.PRUNE, label),
    ):
        result = prune_releases(deploy_root, cfg.keep, dry_run=dry_run, force=force)
    if not quiet:
        verb = "would delete" if dry_run else "deleted"
        for release_id, reason in result.deleted:
            print(f"{verb} {release_id} ({reason})")
        for release_id, reason in result.kept:
            print(f"kept {release_id} ({reason})")
    deleted = [release_id for release_id, _ in result.deleted]
    print(summary.pruned(deleted, len(result.kept), dry_run, time.monotonic() - started))
    empty_trash(deploy_root)  # after the lock is released and the result is shown
    reserve.ensure(deploy_root)  # back once there is room again


@app.command()
def history(
    root: RootOption = None,
    limit: Annotated[
        int, typer.Option("-n", "--limit", min=1, help="Show the newest N entries.")
    ] = 20,
    everything: Annotated[
        bool, typer.Option("--all", help="Also show bookkeeping events (deploy starts, ...).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show what happened, newest first: deploys, failures, rollbacks, prunes; who, when, how long.

    Example: releases history -n 5
    """
    from releases_cli.cli import timeline
    from releases_cli.core.events import read_history

    deploy_root = _root(root)
    if not deploy_root.is_initialized():
        raise NotFound(f"{deploy_root.path} is not a deploy root (run `releases init`)")
    log = read_history(deploy_root)
    found = timeline.rows(log.events, limit, everything)
    if as_json:
        print(timeline.as_json(str(deploy_root.path), log, found))
    elif found:
        print(timeline.table(found, utc_now()))
    else:
        _say("no history yet (nothing was deployed here)")


@app.command()
def doctor(root: RootOption = None, as_json: JsonOption = False) -> None:
    """Check the deploy root (layout, permissions, `current`, temp links, free disk) and the PM2
    apps serving it (cwd must be the `current` path). Exit 10 when a problem is found.

    Example: releases doctor --root /srv/shop
    """
    from releases_cli.cli.render import doctor_json
    from releases_cli.pipelines.doctor import diagnose

    report = diagnose(_root(root))
    if as_json:
        print(doctor_json(report))
    else:
        for finding in report.findings:
            print(f"{'ok' if finding.ok else 'PROBLEM'}  {finding.check}: {finding.message}")
            if finding.fix:
                print(f"    fix: {finding.fix}")
        print(f"{len(report.problems)} problem(s) found in {report.root}")
    if report.problems:
        raise typer.Exit(ExitCode.PROBLEMS_FOUND)


def _adopt(deploy_root: DeployRoot, path: Path, wait: float) -> None:
    from releases_cli.pipelines.adopt import adopt as run_adopt

    result = run_adopt(deploy_root, path, wait)
    print(f"adopted {result.adopted} as release {result.id} in {result.seconds:.1f}s")
    print(f"current -> releases/{result.id}")
    if result.parked is not None:
        print(f"the old directory is kept at {result.parked} (remove it once PM2 has reloaded)")
    for line in result.instructions:
        print(line)


def _source(settings: SourceConfig) -> Source:
    """The source the settings name: a directory, or a git repository (loads gitpython)."""
    if settings.path and settings.repo:
        raise InvalidInput(
            "releases.toml sets both source.path and source.repo; keep one "
            "(or pass --source or --repo)"
        )
    if settings.repo:
        from releases_cli.sources.git.source import GitSource

        return GitSource(settings.repo, settings.ref or None, settings.submodules)
    if settings.ref:
        raise InvalidInput("--ref (source.ref) needs a git source: pass --repo URL")
    if not settings.path:
        raise NotFound(
            "no source: pass --source DIR or --repo URL (or set [source] path or repo "
            "in releases.toml)"
        )
    from releases_cli.sources.local import LocalSource

    return LocalSource(Path(settings.path))


def _deploy_options(deploy_root: DeployRoot, flags: Flags, wait: float) -> DeployOptions:
    """releases.toml + the flags that build a release (shared by deploy and stage)."""
    from releases_cli.pipelines.deploy import DeployOptions
    from releases_cli.pipelines.golive import live_options

    if flags.source is not None and flags.repo is not None:
        raise InvalidInput("--source and --repo are mutually exclusive: pass one of them")
    cfg = config_mod.load(deploy_root).with_flags(flags)
    return DeployOptions(
        source=_source(cfg.source),
        build=cfg.build,
        shared=cfg.shared,
        keep=cfg.keep,
        wait=wait,
        live=live_options(cfg),
    )


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def main() -> None:
    """Entry point: every way a command fails is one line on stderr and a documented exit code,
    never a traceback (cli/outcome.py)."""
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    outcome.stop_on_sigterm()
    try:
        app(prog_name="releases")
    except SystemExit as done:
        outcome.exiting(done)
        raise
    except BaseException as error:
        outcome.fail(error)
