"""`releases pack`: build once (on CI or a build host) into one verified artifact that
`deploy --artifact` / `stage --artifact` install anywhere (docs/artifacts.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from releases_cli.cli.options import (
    BuildOption,
    PresetOption,
    QuietOption,
    RefOption,
    RepoOption,
    SourceOption,
    VerboseOption,
    path_text,
    say,
)
from releases_cli.config import Flags
from releases_cli.core.errors import InvalidInput

STDOUT = "-"


def pack(
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Artifact file to write, or - for stdout."
        ),
    ],
    source: SourceOption = None,
    repo: RepoOption = None,
    ref: RefOption = None,
    build: BuildOption = None,
    preset: PresetOption = None,
    work: Annotated[
        Path | None,
        typer.Option(
            "--work",
            metavar="DIR",
            show_default=False,
            help="Build in this directory and keep it for the next pack's dependency reuse and "
            "build cache (its releases.toml applies); a deploy root is refused. Default: a "
            "temporary directory.",
        ),
    ] = None,
    release_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            metavar="ID",
            show_default=False,
            help="Release id the artifact is built as (default: now, UTC).",
        ),
    ] = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Build a release as `stage` does, on this machine, and write it as one artifact (manifest
    + zstd-compressed tree + digest) for `releases deploy --artifact`.

    Example: releases pack --source . -o shop.artifact

    Example: releases pack --repo . --ref v1.4.0 -o - | ssh web1 releases deploy --artifact -
    """
    from releases_cli.cli import progress
    from releases_cli.core.units import human_size
    from releases_cli.pipelines.pack import pack_command

    if output == STDOUT and sys.stdout.isatty():
        raise InvalidInput("refusing to write an artifact to a terminal: pass -o FILE or a pipe")
    reporter = progress.make_reporter(quiet, verbose, out=sys.stderr)
    flags = Flags(source=path_text(source), repo=repo, ref=ref, build=build, preset=preset)
    target = None if output == STDOUT else output
    result = pack_command(target, sys.stdout.buffer, work, flags, release_id, reporter)
    say(
        f"packed release {result.id}: {human_size(result.size)} "
        f"({human_size(result.tree_size)} of files, {result.native_count} native module(s)) "
        f"in {result.seconds:.1f}s, {result.digest}"
    )
    if output != STDOUT:
        print(f"{result.id} {result.digest} {output}")


COMMANDS = (("pack", pack),)
