"""The blue-green serving commands: nginx (the server block to add), preview (a staged
release on its own port), reap (stop warm apps past their grace; for a timer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from releases_cli import config as config_mod
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
from releases_cli.core.errors import InvalidInput

if TYPE_CHECKING:
    from releases_cli.core.layout import DeployRoot
    from releases_cli.pipelines.bluegreen import Serving


def _serving(deploy_root: DeployRoot, command: str) -> Serving:
    from releases_cli.pipelines.bluegreen import serving

    cfg = config_mod.load(deploy_root)
    if not cfg.serve.blue_green:
        raise InvalidInput(
            f'`releases {command}` needs [serve] mode = "blue-green" in {deploy_root.config_file}'
        )
    return serving(deploy_root, cfg.serve)


def nginx(root: RootOption = None) -> None:
    """Print the two parts nginx needs for blue-green serving, to add once: the `include`
    line, which goes inside the http block of serve.nginx_config itself (releases tests a copy
    of that file before each change; doctor checks it), and the server block, which may go in
    any file nginx reads (e.g. sites-available/ + sites-enabled/). Writes a first include
    (nothing routed) when there is none yet, so `nginx -t` passes before the first deploy.

    Example: releases nginx --root /srv/shop > shop.nginx  (then place its two parts)
    """
    from releases_cli.core.fs import atomic_write
    from releases_cli.nextjs.nginx import render_include, snippet

    deploy_root = deploy_root_of(root).require_initialized()
    sv = _serving(deploy_root, "nginx")
    if not sv.nginx.include.exists():
        sv.nginx.include.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(sv.nginx.include, render_include(sv.nginx.app, None, {}).encode())
        say(f"wrote {sv.nginx.include} (nothing routed yet)")
    print(snippet(sv.nginx, deploy_root.path), end="")


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
    from releases_cli.core.recovery import exclusive
    from releases_cli.pipelines.bluegreen import preview as run_preview

    validate_id(release_id)
    deploy_root = deploy_root_of(root).require_initialized()
    sv = _serving(deploy_root, "preview")
    reporter = progress.make_reporter(quiet, verbose)
    with exclusive(deploy_root, wait, utc_now, reporter) as recovered:
        snap = recovered.snapshot
        if release_id != snap.current_id:  # the live one may be previewed on its own port
            snap.target(release_id, "preview")
        port = run_preview(sv, release_id, utc_now, reporter)
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
    from releases_cli.core.recovery import exclusive
    from releases_cli.pipelines.bluegreen import settle

    deploy_root = deploy_root_of(root).require_initialized()
    sv = _serving(deploy_root, "reap")
    reporter = progress.make_reporter(quiet, verbose)
    with exclusive(deploy_root, wait, utc_now, reporter):
        stopped = settle(sv, utc_now, reporter, orphans=True)
    if stopped:
        say(f"stopped {len(stopped)} app(s): {', '.join(stopped)}")
    print(f"reaped {len(stopped)}")


def serve_lines(deploy_root: DeployRoot) -> list[str]:
    """For `status`: each release with a blue-green app, its role, port, memory (pm2 jlist)
    and when it stops; nothing in reload mode."""
    cfg = config_mod.load(deploy_root)
    if not cfg.serve.blue_green:
        return []
    from releases_cli.core.units import human_size
    from releases_cli.nextjs import pm2
    from releases_cli.nextjs.servestate import read_state
    from releases_cli.pipelines.bluegreen import serving

    sv = serving(deploy_root, cfg.serve)
    state = read_state(deploy_root)
    running = pm2.jlist(sv.pm2) or {}
    now = utc_now()
    lines = []
    for rid, entry in sorted(state.apps.items()):
        role = "live" if rid == state.live else "warm" if entry.routed else "not routed"
        app = running.get(sv.pm2.name(rid))
        memory = f"{human_size(app.memory)} in {app.online} online" if app else "not in PM2"
        stops = ""
        if entry.until is not None:
            left = max(0, int((entry.until - now).total_seconds()))
            stops = f", stops in {left // 60}m{left % 60:02d}s" if left else ", stops now"
        lines.append(f"serve: {rid} {role} on 127.0.0.1:{entry.port}, {memory}{stops}")
    return lines


COMMANDS = (
    ("nginx", nginx),
    ("preview", preview),
    ("reap", reap),
)
