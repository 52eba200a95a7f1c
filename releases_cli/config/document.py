"""A parsed releases.toml document -> Config, every key read once by its reader; the line of a
bad key in the file's text, and the nearest valid key for a typo (only run for a message)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from releases_cli.config import values
from releases_cli.config.sections import HOOK_POINTS, Config

T = TypeVar("T")

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]{1,60}")

SECTIONS = tuple(name for name in Config._fields if name != "keep")


def read_document(document: Mapping[str, object]) -> Config:
    """Raises values.Invalid with the dotted key of the first bad or unknown key."""
    top = _Table(document, "")
    base = Config()
    keep = top.take("keep", values.keep, base.keep)
    sections = {name: top.section(name, _reader_of(name, getattr(base, name))) for name in SECTIONS}
    config = base._replace(keep=keep, **sections)
    top.done()
    return config


def defaults() -> dict[str, object]:
    """Every key, dotted, with its default, section by section."""
    base = Config()
    found: dict[str, object] = {"keep": base.keep}
    for section in SECTIONS:
        table = getattr(base, section)
        for key in table._fields:
            found[f"{section}.{key}"] = getattr(table, key)
    return found


class _Table:
    """One TOML table being read: each key is taken once; what is left over is unknown."""

    def __init__(self, items: Mapping[str, object], prefix: str) -> None:
        self._items = dict(items)
        self._prefix = prefix

    def _dotted(self, key: str) -> str:
        shown = key if _BARE_KEY.fullmatch(key) else values.show(key)  # one line, short
        return f"{self._prefix}.{shown}" if self._prefix else shown

    def take(self, key: str, read: Callable[[object], T], default: T) -> T:
        if key not in self._items:
            return default
        try:
            return read(self._items.pop(key))
        except values.Invalid as error:
            dotted = self._dotted(key)
            raise values.Invalid(f"{dotted} {error.message}", dotted) from None

    def section(self, name: str, read: Callable[[_Table], T]) -> T:
        items = self._items.pop(name, {})
        if not isinstance(items, dict):
            raise values.Invalid(f"[{name}] must be a table, got {values.show(items)}", name)
        table = _Table(items, name)
        result = read(table)
        table.done()
        return result

    def done(self) -> None:
        for key in self._items:
            dotted = self._dotted(key)
            hint = suggestion(dotted, [*defaults(), *SECTIONS])
            raise values.Invalid(f"unknown key {dotted}{hint}", dotted)


# Each section's keys, in reading order, with the reader that checks and converts the value;
# a key's default is its NamedTuple field's (tests/cli/test_config.py checks every field has one).
Reader = Callable[[object], object]
READERS: dict[str, dict[str, Reader]] = {
    "source": {
        "path": values.text,
        "repo": values.text,
        "ref": values.text,
        "submodules": values.boolean,
    },
    "build": {
        "commands": values.commands,
        "preset": values.preset,
        "timeout": values.limit,
        "share_static": values.share_static,
        "nice": values.nice,
        "io_class": values.io_class,
        "cpu_limit": values.cpu_limit,
    },
    "shared": {"files": values.shared_paths, "dirs": values.shared_paths},
    "restart": {"command": values.text, "timeout": values.limit},
    "health": {
        "url": values.url,
        "status": values.status,
        "timeout": values.period,
        "interval": values.period,
        "check_build_id": values.boolean,
    },
    "hooks": {
        **dict.fromkeys(HOOK_POINTS, values.commands),
        "timeout": values.limit,
        "check": values.commands,
    },
    "migrations": {"paths": values.release_paths, "rollback": values.migrations_policy},
    "notify": {
        "urls": values.urls,
        "url_env": values.env_name,
        "url_file": values.shared_file,
        "format": values.notify_format,
        "timeout": values.period,
    },
    "serve": {
        "mode": values.serve_mode,
        "app": values.app_name,
        "ports": values.port_range,
        "instances": values.instances,
        "exec_mode": values.exec_mode,
        "start": values.start_command,
        "interpreter": values.text,
        "env": values.environment,
        "grace": values.duration,
        "health_path": values.url_path,
        "warmup_paths": values.url_paths,
        "warmup_requests": values.warmup_requests,
        "warmup_seconds": values.period,
        "warmup_concurrency": values.concurrency,
        "start_timeout": values.period,
        "drain_timeout": values.limit,
        "include": values.text,
        "nginx_config": values.text,
        "nginx_test": values.command_words,
        "nginx_reload": values.command_words,
        "pm2": values.text,
        "url": values.url,
        "canary": values.canary,
        "watch": values.duration,
    },
    "analysis": {
        "max_error_rate": values.fraction,
        "error_ratio": values.ratio,
        "p95_ratio": values.ratio,
        "min_requests": values.min_requests,
        "interval": values.period,
    },
}


def _reader_of(name: str, base: T) -> Callable[[_Table], T]:
    """Reads section `name` over its defaults `base` (a section NamedTuple)."""

    def read(table: _Table) -> T:
        taken = {
            key: table.take(key, read, getattr(base, key)) for key, read in READERS[name].items()
        }
        section: T = getattr(base, "_replace")(**taken)  # noqa: B009 (any section's _replace)
        return section

    return read


def suggestion(dotted: str, known: Iterable[str]) -> str:
    """ " (did you mean build.commands?)" for the nearest known key, or ""."""
    import difflib

    known = list(known)
    leaf = dotted.rpartition(".")[2]
    # The right name in the wrong section (`[health] command`) is the likeliest slip.
    moved = [key for key in known if key.rpartition(".")[2] == leaf and key != dotted]
    nearest = moved or difflib.get_close_matches(dotted, known, n=1, cutoff=0.6)
    return f" (did you mean {nearest[0]}?)" if nearest else ""


def line_of(text: str, dotted: str) -> int | None:
    """The line (1-based) that sets `dotted` in the TOML `text`, or the line of its nearest
    enclosing table; None when neither can be found. A line scan, not a parser: good enough for
    pointing at a line, never used to read a value."""
    header = re.compile(r"\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    assignment = re.compile(r"\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")
    wanted = _parts(dotted)
    table: tuple[str, ...] = ()
    best: tuple[int, int | None] = (0, None)
    for number, line in enumerate(text.splitlines(), 1):
        if found := header.match(line):
            table = path = _parts(found.group(1))
        elif found := assignment.match(line):
            path = table + _parts(found.group(1))
        else:
            continue
        depth = min(len(path), len(wanted))
        # A header like [a.b.c] also defines a and a.b: prefixes count either way.
        if path[:depth] == wanted[:depth] and depth > best[0]:
            best = (depth, number)
    return best[1]


def _parts(key: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in key.split("."))
