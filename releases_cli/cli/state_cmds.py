"""The commands that read or tidy the deploy root: list, status, prune, history, doctor."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from releases_cli.cli.options import (
    JsonOption,
    KeepOption,
    QuietOption,
    RootOption,
    VerboseOption,
    WaitOption,
    deploy_root_of,
    say,
)
from releases_cli.cli.serveinfo import canary_lines, canary_record, serve_lines, serve_records
from releases_cli.cli.text import shown
from releases_cli.core.clock import utc_now
from releases_cli.core.errors import ExitCode, NotFound


def list_(root: RootOption = None, as_json: JsonOption = False) -> None:
    """List releases, newest first: status, age, size, revision, who deployed, build time.

    Example: releases list --json
    """
    from releases_cli.cli import render
    from releases_cli.pipelines.overview import listing

    now = utc_now()
    seen = listing(deploy_root_of(root), now)
    records = serve_records(seen.serving)
    if as_json:
        print(render.list_json(seen.snap, now, seen.in_use, records, seen.warnings))
        return
    print(render.list_table(seen.snap, now, seen.in_use))
    for line in serve_lines(records):
        print(line)
    for warning in seen.warnings:
        say(f"warning: {warning}")


def status(root: RootOption = None, as_json: JsonOption = False) -> None:
    """Print the live release: id, path, revision, who deployed it and when, rollback target,
    and the deploy freeze when there is one.

    Exits 4 when nothing is live (with --json, after printing the JSON).

    Example: releases status --json
    """
    from releases_cli.cli import render
    from releases_cli.pipelines.overview import live_view

    deploy_root = deploy_root_of(root)
    now = utc_now()
    seen = live_view(deploy_root, now)
    snap, frozen = seen.snap, seen.frozen
    live = snap.get(snap.current_id) if snap.current_id else None
    record = render.release_record(snap, live, now, seen.in_use) if live else None
    records = serve_records(seen.serving)
    running = canary_record(seen.canary)
    if as_json:
        print(render.status_json(snap, record, frozen, records, seen.warnings, running))
    elif record is not None:
        print(render.status_text(record, snap.previous))
        for line in serve_lines(records) + canary_lines(running):
            print(line)
    if frozen is not None and not as_json:
        print(render.frozen_text(frozen))
    for warning in seen.warnings:
        say(f"warning: {warning}")
    if snap.current_id is None:
        raise NotFound(f"no release is live in {deploy_root.path}")


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
    from releases_cli.cli import progress, summary
    from releases_cli.pipelines.retention import Pruned, prune_command

    def show(done: Pruned) -> None:
        if not quiet:
            verb = "would delete" if done.dry_run else "deleted"
            for release_id, reason in done.result.deleted:
                print(f"{verb} {release_id} ({shown(reason)})")
            for release_id, reason in done.result.kept:
                print(f"kept {release_id} ({shown(reason)})")
        deleted = [release_id for release_id, _ in done.result.deleted]
        print(summary.pruned(deleted, len(done.result.kept), done.dry_run, done.seconds))

    reporter = progress.make_reporter(quiet, verbose)
    prune_command(deploy_root_of(root), keep, dry_run, force, wait, reporter, show)


def history(
    root: RootOption = None,
    limit: Annotated[
        int, typer.Option("-n", "--limit", min=1, metavar="N", help="Show the newest N entries.")
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
    from releases_cli.pipelines.overview import history as read_history

    deploy_root = deploy_root_of(root)
    log = read_history(deploy_root)
    found = timeline.rows(log.events, limit, everything)
    if as_json:
        print(timeline.as_json(str(deploy_root.path), log, found))
    elif found:
        # Cut long details for a person at a terminal only: a pipe or a file gets them whole.
        width = 60 if sys.stdout.isatty() else None
        print(timeline.table(found, utc_now(), width))
    else:
        say("no history yet (nothing was deployed here)")


def doctor(root: RootOption = None, as_json: JsonOption = False) -> None:
    """Check the deploy root (layout, permissions, `current`, temp links, free disk) and the PM2
    apps serving it (cwd must be the `current` path). Exit 10 when a problem is found.

    Example: releases doctor --root /srv/shop
    """
    from releases_cli.cli.render import doctor_json
    from releases_cli.pipelines.doctor import diagnose

    report = diagnose(deploy_root_of(root))
    if as_json:
        print(doctor_json(report))
    else:
        for finding in report.findings:
            said = shown(finding.message)
            print(f"{'ok' if finding.ok else 'PROBLEM'}  {finding.check}: {said}")
            if finding.fix:
                print(f"    fix: {shown(finding.fix)}")
        print(f"{len(report.problems)} problem(s) found in {shown(str(report.root))}")
    if report.problems:
        raise typer.Exit(ExitCode.PROBLEMS_FOUND)


COMMANDS = (
    ("list", list_),
    ("status", status),
    ("prune", prune),
    ("history", history),
    ("doctor", doctor),
)
