"""The canary commands (blue-green mode, docs/canary.md): promote (all traffic to the canary
now) and abort (all traffic back on the stable release now), from any shell at any time."""

from __future__ import annotations

import json
import sys

from releases_cli.cli.options import (
    JsonOption,
    QuietOption,
    RootOption,
    VerboseOption,
    WaitOption,
    deploy_root_of,
    say,
)
from releases_cli.cli.render import JSON_VERSION


def promote(
    root: RootOption = None,
    wait: WaitOption = 0,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Send all traffic to the running canary now: it becomes live as a deploy's flip makes a
    release live (switch, deploy_finished, prune); the stable release stays warm.

    Example: releases promote --root /srv/shop
    """
    from releases_cli.cli import progress
    from releases_cli.pipelines.releasing import promote_command

    reporter = progress.make_reporter(quiet, verbose, out=sys.stderr if as_json else None)
    done = promote_command(deploy_root_of(root), wait, reporter, progress.live_line(reporter), say)
    if as_json:
        print(json.dumps({"version": JSON_VERSION, "id": done.id, "previous": done.other}))
    else:
        print(done.summary)


def abort(
    root: RootOption = None,
    wait: WaitOption = 0,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Send all traffic back to the stable release now (it never stopped: no restart); the
    canary is marked failed and its app stopped once drained.

    Example: releases abort --root /srv/shop
    """
    from releases_cli.cli import progress
    from releases_cli.pipelines.releasing import abort_command

    reporter = progress.make_reporter(quiet, verbose, out=sys.stderr if as_json else None)
    done = abort_command(deploy_root_of(root), wait, reporter, say)
    if as_json:
        print(json.dumps({"version": JSON_VERSION, "id": done.id, "stable": done.other}))
    else:
        print(done.summary)


COMMANDS = (("promote", promote), ("abort", abort))
