"""The commands that read or tidy the deploy root: list, status, prune, history, doctor."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from releases_cli import config as config_mod
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
from releases_cli.config import Flags
from releases_cli.core import reserve
from releases_cli.core.clock import utc_now
from releases_cli.core.errors import ExitCode, NotFound


def list_(root: RootOption = None, as_json: JsonOption = False) -> None:
    """List releases, newest first: status, age, size, revision, who deployed, build time.

    Example: releases list --json
    """
    from releases_cli.cli import render
    from releases_cli.core.inuse import release_users
    from releases_cli.core.state import snapshot

    deploy_root = deploy_root_of(root)
    deploy_root.require_initialized()
    snap = snapshot(deploy_root)
    in_use = release_users(deploy_root.releases)
    now = utc_now()
    records = serve_records(deploy_root, now)
    if as_json:
        print(render.list_json(snap, now, in_use, records))
        return
    print(render.list_table(snap, now, in_use))
    for line in serve_lines(records):
        print(line)
    for warning in render.warnings(snap):
        say(f"warning: {warning}")


def status(root: RootOption = None, as_json: JsonOption = False) -> None:
    """Print the live release: id, path, revision, who deployed it and when, rollback target,
    and the deploy freeze when there is one.

    Exits 4 when nothing is live (with --json, after printing the JSON).

    Example: releases status --json
    """
    from releases_cli.cli import render
    from releases_cli.core.freeze import read_freeze
    from releases_cli.core.inuse import release_users
    from releases_cli.core.state import snapshot

    deploy_root = deploy_root_of(root)
    snap = snapshot(deploy_root)
    frozen = read_freeze(deploy_root)
    now = utc_now()
    live = snap.get(snap.current_id) if snap.current_id else None
    record = (
        render.release_record(snap, live, now, release_users(deploy_root.releases))
        if live
        else None
    )
    records = serve_records(deploy_root, now)
    running = canary_record(deploy_root)
    if as_json:
        print(render.status_json(snap, record, frozen, records, running))
    elif record is not None:
        print(render.status_text(record, snap.previous))
        for line in serve_lines(records) + canary_lines(running):
            print(line)
    if frozen is not None and not as_json:
        print(render.frozen_text(frozen))
    for warning in render.warnings(snap):
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
    import time

    from releases_cli.cli import progress, summary
    from releases_cli.core.prune import delete_pruned
    from releases_cli.core.recovery import exclusive
    from releases_cli.core.report import Stage, stage
    from releases_cli.pipelines.retention import prune_releases

    deploy_root = deploy_root_of(root)
    deploy_root.require_initialized()
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
            print(f"{verb} {release_id} ({shown(reason)})")
        for release_id, reason in result.kept:
            print(f"kept {release_id} ({shown(reason)})")
    deleted = [release_id for release_id, _ in result.deleted]
    print(summary.pruned(deleted, len(result.kept), dry_run, time.monotonic() - started))
    # After the lock is released and the result is shown; prune returns with the space free.
    delete_pruned(deploy_root, result, detached=False)
    reserve.ensure(deploy_root)  # back once there is room again


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
    from releases_cli.core.events import read_history

    deploy_root = deploy_root_of(root)
    deploy_root.require_initialized()
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
