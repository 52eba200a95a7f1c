"""The `releases` command line: the typer app, its commands (cli/*_cmds.py), and `main`.

Commands parse and render; the work is done by the pipelines. Heavy modules are imported inside
the commands that need them, so `rollback` and `list` start fast.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from releases_cli.cli import (
    artifact_cmds,
    canary_cmds,
    ops_cmds,
    outcome,
    release_cmds,
    serve_cmds,
    state_cmds,
    text,
)
from releases_cli.core.errors import ExitCode, ReleasesError


class UsageError(ReleasesError):
    """The command line cannot be parsed: unknown option or command, missing argument or value,
    a value that is not a number. (A value that parses but is not valid is InvalidInput.)"""

    exit_code = ExitCode.USAGE


class _Commands(TyperGroup):
    """Reports usage errors in one line, like every other error, instead of click's box."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        # Not standalone: click then raises its errors to us instead of printing them.
        try:
            result = super().main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )
        except typer.TyperException as error:  # the base of click's errors in typer
            if error.exit_code != ExitCode.USAGE:
                raise
            if type(error).__name__ == "NoArgsIsHelpError":  # `releases` alone: the help
                print(error.format_message(), end="")  # on stdout, as --help prints it
                sys.exit(error.exit_code)
            message = " ".join(error.format_message().split()).rstrip(".")
            context = getattr(error, "ctx", None)
            path = context.command_path if context is not None else "releases"
            raise UsageError(f"{message}; see '{path} --help'") from None
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)  # an Exit's code, else success


def _new_app() -> typer.Typer:
    return typer.Typer(
        cls=_Commands,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,  # help texts are plain: "[restart] command" stays as written
        context_settings={"show_default": True},
    )


app = _new_app()


def _print_version(wanted: bool) -> None:
    if wanted:
        from releases_cli import __version__

        print(f"releases {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            metavar="DIR",
            show_default=False,
            help="Deploy root for the command (the same as the command's own --root).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Zero-downtime, instantly reversible deploys: releases/<id>/ + an atomic `current` link.

    Example: releases --root /srv/shop deploy --source ~/shop
    """
    if root is not None:
        # `releases --root X CMD` is `RELEASES_ROOT=X releases CMD`: the command's own --root
        # still wins, and its hooks see the root the same way either way.
        os.environ["RELEASES_ROOT"] = os.path.abspath(root.expanduser())


_COMMANDS = (
    *release_cmds.COMMANDS,
    *state_cmds.COMMANDS,
    *artifact_cmds.COMMANDS,
    *ops_cmds.COMMANDS,
    *serve_cmds.COMMANDS,
    *canary_cmds.COMMANDS,
)
for _name, _command in _COMMANDS:
    app.command(_name)(_command)


def _app_for(argv: Sequence[str]) -> typer.Typer:
    """The app to run `argv` with: one holding only the command named (typer builds the click
    command of every registered function on each run, a cost every command would pay), or the
    whole app for the top-level help, completion and anything it cannot tell."""
    if any(name.endswith("_COMPLETE") for name in os.environ):
        return app
    rest = list(argv)
    if rest[:1] == ["--root"]:  # the one global option taking a value
        rest = rest[2:]
    elif rest[:1] and rest[0].startswith("--root="):
        rest = rest[1:]
    commands: dict[str, Callable[..., Any]] = dict(_COMMANDS)
    wanted = commands.get(rest[0]) if rest else None
    if wanted is None:
        return app
    only = _new_app()
    only.callback()(_global_options)
    only.command(rest[0])(wanted)
    return only


def main() -> None:
    """Entry point: every way a command fails is one line on stderr and a documented exit code,
    never a traceback (cli/outcome.py). Everything written to stdout and stderr passes the
    one escaping of control characters (cli/text.py), warnings and errors included."""
    # A stream the caller closed (`>&-`) is None: what would go there goes nowhere instead,
    # as with any program (a deploy must not stop half-way for want of somewhere to print).
    sys.stdout = text.guard(sys.stdout or open(os.devnull, "w"))  # noqa: SIM115 (for the process)
    sys.stderr = text.guard(sys.stderr or open(os.devnull, "w"))  # noqa: SIM115
    handler = logging.StreamHandler()
    handler.setFormatter(text.OneLineFormatter("warning: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    outcome.stop_on_sigterm()
    try:
        _app_for(sys.argv[1:])(prog_name="releases")
    except SystemExit as done:
        outcome.exiting(done)
        raise
    except BaseException as error:
        outcome.fail(error)


def run() -> NoReturn:
    """The process entry point (`releases`, `python -m releases_cli`): `main()`, then the exit
    without the interpreter's teardown, a large part of a rollback's time (freeing every
    module, gitpython's helper processes). The output is flushed first; no thread is left (the
    ones the CLI starts are joined or daemons) and every file written is already closed."""
    try:
        main()
        code = 0
    except SystemExit as done:
        code = _status(done.code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # closed or gone
            stream.flush()
    os._exit(code)


def _status(code: object) -> int:
    """The exit status SystemExit(code) gives: None is 0, an int itself, anything else is
    printed and 1 (as the interpreter does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(OSError, ValueError):
        print(code, file=sys.stderr)
    return 1
