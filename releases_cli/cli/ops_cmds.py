"""The commands for operating deploys as a team: freeze, unfreeze, pin, unpin, diff, logs."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from releases_cli.cli import completion as complete
from releases_cli.cli import text
from releases_cli.cli.options import (
    IdArgument,
    JsonOption,
    MessageOption,
    OptionalIdArgument,
    RootOption,
    WaitOption,
    deploy_root_of,
    say,
)
from releases_cli.core.errors import InvalidInput


def freeze(
    message: Annotated[
        str,
        typer.Option(
            "--message",
            "-m",
            metavar="WHY",
            help="Why, and until when (shown to whoever is refused).",
        ),
    ],
    root: RootOption = None,
    wait: WaitOption = 0,
) -> None:
    """Refuse deploy, stage and switch (exit 5, showing this message) until `releases unfreeze`.
    Rollback still works; --override-freeze on a refused command overrides it (recorded).

    Example: releases freeze -m "release party, back at 3pm"
    """
    from releases_cli.cli.render import frozen_text
    from releases_cli.pipelines.freezing import freeze as run_freeze

    if not message.strip():
        raise InvalidInput("freeze needs a message (-m): say why, and until when")
    state = run_freeze(deploy_root_of(root), message, wait, report=say)
    print(frozen_text(state))


def unfreeze(root: RootOption = None, wait: WaitOption = 0) -> None:
    """Lift the deploy freeze.

    Example: releases unfreeze
    """
    from releases_cli.pipelines.freezing import unfreeze as run_unfreeze

    lifted = run_unfreeze(deploy_root_of(root), wait, report=say)
    was = text.shown(lifted.describe()) if lifted else ""
    print(f"unfrozen (was {was})" if lifted else "not frozen: nothing to do")


def pin(
    release_id: IdArgument,
    message: MessageOption = None,
    root: RootOption = None,
    wait: WaitOption = 0,
) -> None:
    """Pin a release: prune never deletes it (`list` marks it), until `releases unpin`.

    Example: releases pin 20261126T093000Z -m "last build before the schema change"
    """
    from releases_cli.pipelines.pins import set_pin

    _meta, changed = set_pin(deploy_root_of(root), release_id, True, message, wait, report=say)
    why = f" ({text.shown(message)})" if message else ""
    print(f"pinned {release_id}{why}" if changed else f"{release_id} is already pinned{why}")


def unpin(release_id: IdArgument, root: RootOption = None, wait: WaitOption = 0) -> None:
    """Unpin a release: prune treats it like any other again.

    Example: releases unpin 20261126T093000Z
    """
    from releases_cli.pipelines.pins import set_pin

    _meta, changed = set_pin(deploy_root_of(root), release_id, False, None, wait, report=say)
    print(f"unpinned {release_id}" if changed else f"{release_id} is not pinned: nothing to do")


_ids = complete.any_release_ids


def diff(
    a: Annotated[
        str | None, typer.Argument(metavar="[A]", help="Older release.", autocompletion=_ids)
    ] = None,
    b: Annotated[
        str | None, typer.Argument(metavar="[B]", help="Newer release.", autocompletion=_ids)
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Include node_modules and build caches.")
    ] = False,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Files added, removed and changed from release A to release B, and the git log between
    their commits when both came from git (default A: the release live before current; B:
    current).

    Example: releases diff 20261126T093000Z 20261126T101500Z
    """
    from releases_cli.cli import diffview
    from releases_cli.core.ids import validate_id
    from releases_cli.pipelines.diff import diff as run_diff

    for given in (a, b):
        if given is not None:
            validate_id(given)
    result = run_diff(deploy_root_of(root), a, b, everything)
    print(diffview.as_json(result) if as_json else diffview.as_text(result))


def logs(
    release_id: OptionalIdArgument = None,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep printing while the release's deploy runs."),
    ] = False,
    root: RootOption = None,
) -> None:
    """Print a release's build log (default: the newest release's); --follow while its deploy
    runs.

    Example: releases logs --follow
    """
    from releases_cli.pipelines.logs import show

    out = sys.stdout.buffer
    # On a terminal the log is shown like live output (colours kept, other escapes and control
    # characters escaped: a build's output is the release's); into a pipe or file, as it is.
    terminal = text.TerminalLog() if sys.stdout.isatty() else None

    def write(chunk: bytes) -> None:
        out.write(terminal.feed(chunk) if terminal else chunk)
        out.flush()

    sys.stdout.flush()
    try:
        show(deploy_root_of(root), release_id, write, follow)
    except BrokenPipeError:  # `releases logs | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit


COMMANDS = (
    ("freeze", freeze),
    ("unfreeze", unfreeze),
    ("pin", pin),
    ("unpin", unpin),
    ("diff", diff),
    ("logs", logs),
)
