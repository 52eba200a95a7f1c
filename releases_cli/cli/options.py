"""The option sets every command shares (one definition each), and small CLI helpers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from releases_cli import config as config_mod
from releases_cli.cli import completion as complete
from releases_cli.cli.text import shown
from releases_cli.core.layout import DeployRoot


def _checked_wait(ctx: typer.Context, seconds: float) -> float:
    return seconds if ctx.resilient_parsing else config_mod.check_wait(seconds)


RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        envvar="RELEASES_ROOT",
        show_envvar=True,
        metavar="DIR",
        help="Deploy root (default: the nearest directory up from here holding .releases/).",
    ),
]
WaitOption = Annotated[
    float,
    typer.Option(
        "--wait",
        callback=_checked_wait,
        metavar="SECONDS",
        help="Wait up to SECONDS for the lock instead of failing.",
    ),
]
RestartOption = Annotated[
    str | None,
    typer.Option(
        "--restart", metavar="CMD", help="Command run after the switch ([restart] command)."
    ),
]
HealthUrlOption = Annotated[
    str | None,
    typer.Option(
        "--health-url", metavar="URL", help="URL that must answer after the restart ([health] url)."
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (versioned shape, see docs/reference.md).")
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the final summary line (and errors).")
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also print the tool's own log messages.")
]
SourceOption = Annotated[
    Path | None,
    typer.Option("--source", metavar="DIR", help="Directory to deploy from ([source] path)."),
]
RepoOption = Annotated[
    str | None,
    typer.Option(
        "--repo", metavar="URL", help="Git repository (URL or path) to deploy from ([source] repo)."
    ),
]
RefOption = Annotated[
    str | None,
    typer.Option(
        "--ref", metavar="REF", help="Branch, tag or commit to deploy (default: remote HEAD)."
    ),
]
BuildOption = Annotated[
    list[str] | None,
    typer.Option(
        "--build",
        metavar="CMD",
        help="Build command, repeatable ([build] commands; default: none).",
    ),
]
KeepOption = Annotated[
    int | None,
    typer.Option(
        "--keep",
        metavar="N",
        help=f"Complete releases to keep ([keep]; default: {config_mod.Config().keep}).",
    ),
]
ArtifactOption = Annotated[
    str | None,
    typer.Option(
        "--artifact",
        metavar="FILE",
        help="Install a `releases pack` artifact (FILE, or - for stdin): no build.",
    ),
]
PresetOption = Annotated[
    str | None,
    typer.Option("--preset", metavar="NAME", help="Build preset: auto (default), nextjs or none."),
]
ReleaseIdOption = Annotated[
    str | None,
    typer.Option(
        "--to",
        metavar="ID",
        help="Release id to switch to (default: the previously live release).",
        autocompletion=complete.release_ids,
    ),
]


MessageOption = Annotated[
    str | None,
    typer.Option(
        "--message",
        "-m",
        metavar="WHY",
        show_default=False,
        help="Why: recorded in the history (and meta), shown by history/list.",
    ),
]
OverrideFreezeOption = Annotated[
    bool,
    typer.Option(
        "--override-freeze", help="Run even while deploys are frozen (recorded in the history)."
    ),
]
IdArgument = Annotated[
    str,
    typer.Argument(metavar="ID", help="A release id.", autocompletion=complete.any_release_ids),
]
OptionalIdArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="[ID]",
        show_default=False,
        help="A release id (default: see above).",
        autocompletion=complete.any_release_ids,
    ),
]


def deploy_root_of(root: Path | None, discover: bool = True) -> DeployRoot:
    """The command's --root, else $RELEASES_ROOT (which `releases --root X CMD` sets), else
    the nearest root up from the current directory (with `discover`; else the directory)."""
    return DeployRoot.resolve(root, discover)


def say(message: str) -> None:
    """A note for the person at the terminal (stderr: stdout is for results), on one line."""
    print(shown(message), file=sys.stderr, flush=True)


def path_text(path: Path | None) -> str | None:
    return None if path is None else str(path)


CanaryOption = Annotated[
    str | None,
    typer.Option(
        "--canary",
        metavar="STAGES",
        help='Blue-green: send this share of visitors to the new release first ("10%", '
        'or stages "5%:2m,25%:5m"), promote or abort it by analysis; "0": none.',
    ),
]
WatchOption = Annotated[
    str | None,
    typer.Option(
        "--watch",
        metavar="DURATION",
        help='Analysis window after the flip, and a stage without a duration ("2m"; 0: none).',
    ),
]
DetachOption = Annotated[
    bool,
    typer.Option(
        "--detach",
        help="Return once the canary runs or the flip is done: a detached watcher finishes "
        "the canary or the watch.",
    ),
]
