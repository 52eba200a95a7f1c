"""`releases pack`: build once (on CI or a build host) into one verified artifact that
`deploy --artifact` / `stage --artifact` install anywhere (docs/artifacts.md)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated

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
from releases_cli.core import faults, leftovers
from releases_cli.core.errors import InvalidInput, SystemFailure
from releases_cli.core.fs import DIR_MODE, current_umask
from releases_cli.core.layout import DeployRoot

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
    from releases_cli.pipelines.pack import claim_work
    from releases_cli.pipelines.pack import pack as run_pack
    from releases_cli.pipelines.sourcing import deploy_options

    if output == STDOUT and sys.stdout.isatty():
        raise InvalidInput("refusing to write an artifact to a terminal: pass -o FILE or a pipe")
    reporter = progress.make_reporter(quiet, verbose, out=sys.stderr)
    flags = Flags(source=path_text(source), repo=repo, ref=ref, build=build, preset=preset)
    with _work_root(work) as work_root, _output(output) as out:
        claim_work(work_root)
        options = deploy_options(work_root, flags, 0)
        result = run_pack(work_root, options, out, release_id, report=reporter)
    say(
        f"packed release {result.id}: {human_size(result.size)} "
        f"({human_size(result.tree_size)} of files, {result.native_count} native module(s)) "
        f"in {result.seconds:.1f}s, {result.digest}"
    )
    if output != STDOUT:
        print(f"{result.id} {result.digest} {output}")


@contextmanager
def _work_root(work: Path | None) -> Iterator[DeployRoot]:
    if work is not None:
        work.mkdir(DIR_MODE, parents=True, exist_ok=True)
        yield DeployRoot.resolve(work)
        return
    import tempfile  # pack only: not worth its import on every command

    # Named and held so that the next pack removes one a SIGKILL left (core/leftovers.py).
    with leftovers.scratch_dir(Path(tempfile.gettempdir()), "releases-pack") as scratch:
        yield DeployRoot.resolve(scratch)


@contextmanager
def _output(output: str) -> Iterator[IO[bytes]]:
    """stdout, or FILE written atomically: a temp file beside it (`.FILE.tmp-<pid>-<hex>`,
    flock'd while written), renamed when complete. Temps of FILE that an earlier pack killed
    before its rename left are removed first; a live pack's temp is left to it (leftovers.py)."""
    if output == STDOUT:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(output)
    try:
        leftovers.remove_stale_beside(target)
        fd, temp = leftovers.create(target.parent, target.name)
    except OSError as error:
        raise SystemFailure.of(error, f"cannot write {output}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
            faults.point("after_pack_write")
            os.chmod(temp, 0o666 & ~current_umask())  # as any new file: it may hold secrets
            os.replace(temp, target)  # before the close drops the flock
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


COMMANDS = (("pack", pack),)
