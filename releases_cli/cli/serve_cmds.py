"""The serving commands: up (start what the state says runs; at boot), and for blue-green:
nginx (the server block to add), preview (a staged release on its own port), reap (stop warm
apps past their grace; for a timer)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from releases_cli.cli import completion as complete
from releases_cli.cli.options import (
    QuietOption,
    RootOption,
    VerboseOption,
    WaitOption,
    deploy_root_of,
    say,
)
from releases_cli.core.clock import utc_now


def up(
    root: RootOption = None,
    print_boot_hook: Annotated[
        bool,
        typer.Option(
            "--print-boot-hook",
            help="Print a systemd unit and an @reboot cron line that run `up` at boot; "
            "change nothing.",
        ),
    ] = False,
    wait: WaitOption = 0,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Start what the deploy root's state says runs, and nothing else: in blue-green mode the
    live app and warm apps within their grace (nginx reloaded only if a port moved); in
    reload mode the restart command, unless [health] url answers. Safe at boot and at any
    time: a second run changes nothing.

    Example: releases up --root /srv/shop --print-boot-hook
    """
    from releases_cli.cli import progress
    from releases_cli.pipelines import up as run_up

    deploy_root = deploy_root_of(root).require_initialized()
    if print_boot_hook:
        print(run_up.boot_hook_for(deploy_root, sys.argv[0]), end="")
        return
    reporter = progress.make_reporter(quiet, verbose)
    done = run_up.up(deploy_root, wait, utc_now, reporter)
    if done.live is None:
        print("up: nothing is live")
        return
    where = f" on 127.0.0.1:{done.port}" if done.port is not None else ""
    warm = f"; warm: {', '.join(done.warm)}" if done.warm else ""
    print(f"up: {done.live} live{where}{warm}")


def nginx(root: RootOption = None) -> None:
    """Print the two parts nginx needs for blue-green serving, to add once: the `include`
    line, which goes inside the http block of serve.nginx_config itself (releases tests a copy
    of that file before each change; doctor checks it), and the server block, which may go in
    any file nginx reads (e.g. sites-available/ + sites-enabled/). Writes a first include
    (nothing routed) when there is none yet, so `nginx -t` passes before the first deploy.

    Example: releases nginx --root /srv/shop > shop.nginx  (then place its two parts)
    """
    from releases_cli.pipelines.serve import nginx_setup

    done = nginx_setup(deploy_root_of(root))
    if done.wrote is not None:
        say(f"wrote {done.wrote} (nothing routed yet)")
    print(done.block, end="")


def preview(
    release_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="A complete release to start.",
            autocompletion=complete.release_ids,
        ),
    ],
    root: RootOption = None,
    wait: WaitOption = 0,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Start a release's app on its own port without routing traffic to it (or reuse it while
    warm) and print its URL; it stops after serve.grace unless it goes live first.

    Example: releases preview 20261126T101500Z
    """
    from releases_cli.cli import progress
    from releases_cli.core.ids import validate_id
    from releases_cli.pipelines.serve import preview as run_preview

    validate_id(release_id)  # before the root is looked for: the same error either way
    deploy_root = deploy_root_of(root)
    port = run_preview(deploy_root, release_id, wait, progress.make_reporter(quiet, verbose))
    print(f"http://127.0.0.1:{port}/")


def reap(
    root: RootOption = None,
    wait: WaitOption = 0,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Stop the apps of releases whose grace is over (drained first), and PM2 apps of ours that
    no release owns; apply a serve change a crash interrupted. For a timer (cron, systemd).

    Example: releases reap --root /srv/shop --quiet
    """
    from releases_cli.cli import progress
    from releases_cli.pipelines.serve import reap as run_reap

    stopped = run_reap(deploy_root_of(root), wait, progress.make_reporter(quiet, verbose))
    if stopped:
        say(f"stopped {len(stopped)} app(s): {', '.join(stopped)}")
    print(f"reaped {len(stopped)}")


COMMANDS = (
    ("up", up),
    ("nginx", nginx),
    ("preview", preview),
    ("reap", reap),
)
