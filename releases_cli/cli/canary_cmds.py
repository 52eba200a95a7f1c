"""The canary commands (blue-green mode, docs/canary.md): promote (all traffic to the canary
now) and abort (all traffic back on the stable release now), from any shell at any time."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from releases_cli import config as config_mod
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

if TYPE_CHECKING:
    from releases_cli.config import Config
    from releases_cli.core.layout import DeployRoot
    from releases_cli.pipelines.notify import Outcome


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
    import sys

    from releases_cli.cli import progress
    from releases_cli.pipelines import canary

    deploy_root = deploy_root_of(root).require_initialized()
    cfg = config_mod.load(deploy_root)
    reporter = progress.make_reporter(quiet, verbose, out=sys.stderr if as_json else None)
    settings = canary.settings_of(cfg)
    with _notifying(deploy_root, cfg) as outcome:
        promoted, stable = canary.promote_and_watch(
            deploy_root,
            settings,
            canary.utc_now,
            reporter,
            False,
            {},
            progress.live_line(reporter),
            wait,
        )
        outcome.summary = f"promoted {promoted}: all traffic goes to it (previous: {stable})"
    if as_json:
        print(json.dumps({"version": JSON_VERSION, "id": promoted, "previous": stable}))
    else:
        print(outcome.summary)


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
    import sys

    from releases_cli.cli import progress
    from releases_cli.pipelines import canary

    deploy_root = deploy_root_of(root).require_initialized()
    cfg = config_mod.load(deploy_root)
    reporter = progress.make_reporter(quiet, verbose, out=sys.stderr if as_json else None)
    settings = canary.settings_of(cfg)
    with _notifying(deploy_root, cfg) as outcome:
        aborted, stable = canary.abort(
            deploy_root, settings, canary.utc_now, reporter, False, "aborted by hand", {}, wait
        )
        outcome.summary = f"aborted the canary {aborted}: all traffic is back on {stable}"
    if as_json:
        print(json.dumps({"version": JSON_VERSION, "id": aborted, "stable": stable}))
    else:
        print(outcome.summary)


@contextmanager
def _notifying(deploy_root: DeployRoot, cfg: Config) -> Iterator[Outcome]:
    """The [notify] webhooks for what the command recorded (a failure warns)."""
    from releases_cli.pipelines.notify import notifying

    with notifying(deploy_root, cfg.notify, dict(os.environ), say) as outcome:
        yield outcome


COMMANDS = (("promote", promote), ("abort", abort))
