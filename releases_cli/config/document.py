"""A parsed releases.toml document -> Config, every key read once by its reader; the line of a
bad key in the file's text, and the nearest valid key for a typo (only run for a message)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from typing import TypeVar

from releases_cli.config import values
from releases_cli.config.sections import (
    BuildConfig,
    Config,
    HealthConfig,
    HooksConfig,
    MigrationsConfig,
    NotifyConfig,
    RestartConfig,
    ServeConfig,
    SharedConfig,
    SourceConfig,
)

T = TypeVar("T")

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]{1,60}")

SECTIONS = tuple(f.name for f in fields(Config) if f.name != "keep")


def read_document(document: Mapping[str, object]) -> Config:
    """Raises values.Invalid with the dotted key of the first bad or unknown key."""
    top = _Table(document, "")
    base = Config()
    config = Config(
        keep=top.take("keep", values.keep, base.keep),
        source=top.section("source", _source),
        build=top.section("build", _build),
        shared=top.section("shared", _shared),
        restart=top.section("restart", _restart),
        health=top.section("health", _health),
        hooks=top.section("hooks", _hooks),
        migrations=top.section("migrations", _migrations),
        notify=top.section("notify", _notify),
        serve=top.section("serve", _serve),
    )
    top.done()
    return config


def defaults() -> dict[str, object]:
    """Every key, dotted, with its default, section by section."""
    base = Config()
    found: dict[str, object] = {"keep": base.keep}
    for section in SECTIONS:
        table = getattr(base, section)
        for key in fields(table):
            found[f"{section}.{key.name}"] = getattr(table, key.name)
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


def _source(table: _Table) -> SourceConfig:
    base = SourceConfig()
    return SourceConfig(
        path=table.take("path", values.text, base.path),
        repo=table.take("repo", values.text, base.repo),
        ref=table.take("ref", values.text, base.ref),
        submodules=table.take("submodules", values.boolean, base.submodules),
    )


def _build(table: _Table) -> BuildConfig:
    base = BuildConfig()
    return BuildConfig(
        commands=table.take("commands", values.commands, base.commands),
        preset=table.take("preset", values.preset, base.preset),
        timeout=table.take("timeout", values.limit, base.timeout),
        share_static=table.take("share_static", values.share_static, base.share_static),
    )


def _shared(table: _Table) -> SharedConfig:
    return SharedConfig(
        files=table.take("files", values.shared_paths, ()),
        dirs=table.take("dirs", values.shared_paths, ()),
    )


def _restart(table: _Table) -> RestartConfig:
    base = RestartConfig()
    return RestartConfig(
        command=table.take("command", values.text, base.command),
        timeout=table.take("timeout", values.limit, base.timeout),
    )


def _health(table: _Table) -> HealthConfig:
    base = HealthConfig()
    return HealthConfig(
        url=table.take("url", values.url, base.url),
        status=table.take("status", values.status, base.status),
        timeout=table.take("timeout", values.period, base.timeout),
        interval=table.take("interval", values.period, base.interval),
        check_build_id=table.take("check_build_id", values.boolean, base.check_build_id),
    )


def _hooks(table: _Table) -> HooksConfig:
    return HooksConfig(
        before_build=table.take("before_build", values.commands, ()),
        after_build=table.take("after_build", values.commands, ()),
        before_switch=table.take("before_switch", values.commands, ()),
        after_switch=table.take("after_switch", values.commands, ()),
        after_rollback=table.take("after_rollback", values.commands, ()),
        on_failure=table.take("on_failure", values.commands, ()),
    )


def _migrations(table: _Table) -> MigrationsConfig:
    base = MigrationsConfig()
    return MigrationsConfig(
        paths=table.take("paths", values.release_paths, base.paths),
        rollback=table.take("rollback", values.migrations_policy, base.rollback),
    )


def _notify(table: _Table) -> NotifyConfig:
    base = NotifyConfig()
    return NotifyConfig(
        urls=table.take("urls", values.urls, base.urls),
        url_env=table.take("url_env", values.env_name, base.url_env),
        url_file=table.take("url_file", values.shared_file, base.url_file),
        format=table.take("format", values.notify_format, base.format),
        timeout=table.take("timeout", values.period, base.timeout),
    )


def _serve(table: _Table) -> ServeConfig:
    base = ServeConfig()
    return ServeConfig(
        mode=table.take("mode", values.serve_mode, base.mode),
        app=table.take("app", values.app_name, base.app),
        ports=table.take("ports", values.port_range, base.ports),
        instances=table.take("instances", values.instances, base.instances),
        exec_mode=table.take("exec_mode", values.exec_mode, base.exec_mode),
        start=table.take("start", values.start_command, base.start),
        interpreter=table.take("interpreter", values.text, base.interpreter),
        env=table.take("env", values.environment, base.env),
        grace=table.take("grace", values.duration, base.grace),
        health_path=table.take("health_path", values.url_path, base.health_path),
        start_timeout=table.take("start_timeout", values.period, base.start_timeout),
        drain_timeout=table.take("drain_timeout", values.limit, base.drain_timeout),
        include=table.take("include", values.text, base.include),
        nginx_config=table.take("nginx_config", values.text, base.nginx_config),
        nginx_test=table.take("nginx_test", values.command_words, base.nginx_test),
        nginx_reload=table.take("nginx_reload", values.command_words, base.nginx_reload),
        pm2=table.take("pm2", values.text, base.pm2),
        url=table.take("url", values.url, base.url),
    )


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
