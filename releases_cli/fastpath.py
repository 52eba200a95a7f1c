"""A fast path past typer's option parsing for the commands people run and wait on.

typer (0.2x) validates every option value through a pydantic TypeAdapter, so each run of any
command imports pydantic and builds adapters: about 100 ms of a 250 ms `releases rollback`.
For the commands in FAST_COMMANDS, when every argument is a plain `--option VALUE`,
`--option=VALUE` or `--flag` of a simple type (str, Path, int, float, bool, or a repeatable
`list[str]`) declared on that command, this module parses them from the very same typer
declarations (one source of truth) and calls the command function directly. Anything else --
`--help`, an unknown, repeated or malformed option, a value out of range, a declaration using a
typer feature not handled here -- is declined and left to typer, which then behaves exactly as
it always does, error messages included. Set RELEASES_NO_FAST_PATH=1 to always use typer."""

from __future__ import annotations

import errno
import inspect
import os
import re
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import NoneType, UnionType
from typing import Any

import typer
from typer.models import OptionInfo

FAST_COMMANDS = frozenset({"rollback", "list", "status", "deploy"})
DISABLE_ENV = "RELEASES_NO_FAST_PATH"

# OptionInfo attributes whose non-default values this parser honours (or that only affect help
# text). Any other attribute set away from its default makes the command go through typer.
_UNDERSTOOD = frozenset(
    {
        "default",
        "param_decls",
        "envvar",
        "help",
        "show_default",
        "show_envvar",
        "show_choices",
        "hidden",
        "rich_help_panel",
        "metavar",
        "min",
        "max",
    }
)
_SIMPLE_TYPES = (str, Path, int, float, bool)
_INT = re.compile(r"[0-9]+")
_FLOAT = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class Declined(Exception):
    """This command line is not one the fast path handles exactly like typer; use typer."""


@dataclass(frozen=True)
class _Option:
    name: str  # the Python parameter name
    kind: type
    default: Any
    envvar: str | None
    low: float | None
    high: float | None


def run(app: typer.Typer, args: Sequence[str]) -> bool:
    """Run `args` through the fast path; False (having done nothing) when declined."""
    if os.environ.get(DISABLE_ENV) or not args or args[0] not in FAST_COMMANDS:
        return False
    try:
        callback = find_command(app, args[0])
        kwargs = parse(callback, args[1:])
    except Declined:
        return False
    invoke(callback, kwargs)
    return True


def find_command(app: typer.Typer, name: str) -> Callable[..., Any]:
    """The function registered as command `name` (declined for app-level callbacks or
    command settings that typer would act on)."""
    if app.registered_callback is not None:
        raise Declined("app callback")
    for info in app.registered_commands:
        callback = info.callback
        if callback is None:
            continue
        command_name = info.name or callback.__name__.lower().replace("_", "-")
        if command_name != name:
            continue
        if info.context_settings or info.deprecated or info.no_args_is_help:
            raise Declined("command settings")
        return callback
    raise Declined("unknown command")


def parse(callback: Callable[..., Any], args: Sequence[str]) -> dict[str, Any]:
    """The keyword arguments typer would call `callback` with for `args`, or Declined."""
    options, flags = _options_of(callback)
    given: dict[str, Any] = {}
    position = 0
    while position < len(args):
        token = args[position]
        flag, equals, inline = token.partition("=")
        if flag not in flags:
            raise Declined(f"not a plain option: {token}")
        option, flag_value = flags[flag]
        if option.kind is bool:
            if equals:
                raise Declined("value given to a flag")
            value: Any = flag_value
        else:
            if not equals:
                position += 1
                if position >= len(args):
                    raise Declined("missing value")
                inline = args[position]
            value = _convert(option, inline)
        if option.kind is list:
            given.setdefault(option.name, []).append(value)  # repeatable: values in order
        elif option.name in given:
            raise Declined("repeated option")
        else:
            given[option.name] = value
        position += 1
    for option in options:
        if option.name not in given:
            given[option.name] = _from_env_or_default(option)
    return given


def invoke(callback: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Call the command the way typer's standalone mode would end it."""
    try:
        callback(**kwargs)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        print("Aborted!", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as error:
        if error.errno != errno.EPIPE:
            raise
        # The reader went away (`releases list | head`): exit quietly, like typer does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)


def _options_of(
    callback: Callable[..., Any],
) -> tuple[list[_Option], dict[str, tuple[_Option, bool]]]:
    """The command's options and a map of each accepted spelling to (option, flag value)."""
    hints = typing.get_type_hints(callback, include_extras=True)
    options: list[_Option] = []
    flags: dict[str, tuple[_Option, bool]] = {}
    for param in inspect.signature(callback).parameters.values():
        hint = hints.get(param.name)
        info = _option_info(hint)
        if param.default is inspect.Parameter.empty:
            raise Declined("required option")
        kind = _simple_type(typing.get_args(hint)[0])
        envvar = info.envvar
        if envvar is not None and not isinstance(envvar, str):
            raise Declined("several envvars")
        if kind is list and (param.default is not None or envvar is not None):
            raise Declined("list option with a default or an envvar")
        option = _Option(param.name, kind, param.default, envvar, info.min, info.max)
        options.append(option)
        for spelling, value in _spellings(param.name, info, kind):
            flags[spelling] = (option, value)
    return options, flags


def _option_info(hint: Any) -> OptionInfo:
    if typing.get_origin(hint) is not typing.Annotated:
        raise Declined("not an Annotated option")
    infos = [m for m in hint.__metadata__ if isinstance(m, OptionInfo)]
    if len(infos) != 1 or type(infos[0]) is not OptionInfo:
        raise Declined("not a plain typer.Option")
    info = infos[0]
    defaults = vars(OptionInfo())
    for key, value in vars(info).items():
        if key not in _UNDERSTOOD and defaults.get(key, value) != value:
            raise Declined(f"option uses {key}")
    return info


def _simple_type(annotation: Any) -> type:
    """str, Path, int, float or bool, optionally `| None` (not for bool); or `list[str] | None`
    (returned as `list`)."""
    if isinstance(annotation, UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not NoneType]
        if len(members) != 1 or members[0] is bool:
            raise Declined("union type")
        annotation = members[0]
    if typing.get_origin(annotation) is list:
        if typing.get_args(annotation) != (str,):
            raise Declined("list of non-strings")
        return list
    if annotation not in _SIMPLE_TYPES:
        raise Declined(f"type {annotation!r}")
    return typing.cast(type, annotation)


def _spellings(name: str, info: OptionInfo, kind: type) -> list[tuple[str, bool]]:
    """Each command-line spelling of an option and, for flags, the value it sets."""
    # In Annotated style typer reads the first name from `default` (see typer.utils).
    decls = [info.default] if info.default is not ... else []
    decls += list(info.param_decls or ())
    if not decls:
        dashed = "--" + name.replace("_", "-")
        decls = [f"{dashed}/--no-{dashed[2:]}" if kind is bool else dashed]
    spellings: list[tuple[str, bool]] = []
    for decl in decls:
        if not isinstance(decl, str):
            raise Declined("odd declaration")
        on, _, off = decl.partition("/")
        for spelling, value in ((on.strip(), True), (off.strip(), False)):
            if not spelling:
                continue
            if not spelling.startswith("-") or (off and kind is not bool):
                raise Declined("odd declaration")
            spellings.append((spelling, value))
    return spellings


def _convert(option: _Option, raw: str) -> Any:
    """`raw` as the option's type; Declined where typer might say something else."""
    if not raw or raw.startswith("-"):
        raise Declined("empty or dash-leading value")
    if option.kind in (str, list):
        return raw
    if option.kind is Path:
        if os.path.exists(raw) and not os.access(raw, os.R_OK):
            raise Declined("unreadable path")  # typer reports it
        return Path(raw)
    pattern = _INT if option.kind is int else _FLOAT
    if not pattern.fullmatch(raw):
        raise Declined("not a plain number")
    number = option.kind(raw)
    if (option.low is not None and number < option.low) or (
        option.high is not None and number > option.high
    ):
        raise Declined("out of range")  # typer reports it
    return number


def _from_env_or_default(option: _Option) -> Any:
    raw = os.environ.get(option.envvar) if option.envvar else None
    if not raw:
        return option.default
    if option.kind is bool:
        raise Declined("flag from the environment")
    return _convert(option, raw)
