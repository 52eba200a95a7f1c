"""One reader per kind of setting: a raw value (from TOML or from a flag) -> typed and valid.

A reader raises `Invalid` with what is wrong with the value; the caller adds where it came from
(the file, line and key, or the flag).
"""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Literal, TypeVar

from releases_cli.nextjs.choices import PRESETS, SHARE_STATIC, Preset, ShareStatic

T = TypeVar("T")
MigrationsPolicy = Literal["warn", "refuse"]  # the same as sections.py's (values imports nothing)
NotifyFormat = Literal["auto", "slack", "discord", "json"]
ServeMode = Literal["reload", "blue-green"]
ExecMode = Literal["cluster", "fork"]
IoClass = Literal["best-effort", "idle", "none"]

MAX_SECONDS = 7 * 24 * 3600  # bounds every duration (time.sleep overflows far above it)


class Invalid(Exception):
    """A value not valid for its key; `key` (dotted) once known, for the line lookup."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.key = key


def show(value: object) -> str:
    """A short rendering of a bad value (a deeply nested table must never be repr'd)."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"must be an integer, got {show(value)}")
    return value


def keep(value: object) -> int:
    count = integer(value)
    if count < 1:
        raise Invalid(f"must be at least 1, got {count}")
    return count


def status(value: object) -> int:
    code = integer(value)
    if not 100 <= code <= 599:
        raise Invalid(f"must be an HTTP status from 100 to 599, got {code}")
    return code


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, got {show(value)}")
    return value


def limit(value: object) -> float:
    """A time limit in seconds, 0 meaning none. NaN, infinities and negatives are refused: a
    NaN timeout compares false with everything and would silently mean "no limit"."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"must be a number (seconds), got {show(value)}")
    seconds = float(value)
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_SECONDS:
        raise Invalid(f"must be a number of seconds from 0 to {MAX_SECONDS}, got {show(value)}")
    return seconds


def period(value: object) -> float:
    """A duration that must be above 0 (a health check given 0 s could never pass)."""
    seconds = limit(value)
    if seconds == 0:
        raise Invalid("must be more than 0 seconds, got 0")
    return seconds


def text(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid(f"must be a string, got {show(value)}")
    if "\0" in value:
        raise Invalid("must not contain a NUL character")
    return value


def commands(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise Invalid(f"must be a list of strings, got {show(value)}")
    try:
        return tuple(text(item) for item in value)
    except Invalid as error:
        raise Invalid(f"must be a list of strings; an item {error.message}") from None


def shared_paths(value: object) -> tuple[str, ...]:
    """Normalised relative paths without `..`: an absolute path or `..` could make a release's
    link (or a created shared directory) land outside the deploy root."""
    return _relative_paths(value, "shared/")


def release_paths(value: object) -> tuple[str, ...]:
    """Normalised relative paths inside a release (no leading /, no ..)."""
    return _relative_paths(value, "the release")


def shared_file(value: object) -> str:
    """ "" (none) or one relative path inside shared/."""
    given = text(value)
    return _relative_paths([given], "shared/")[0] if given else given


def _relative_paths(value: object, inside: str) -> tuple[str, ...]:
    entries = commands(value)
    for entry in entries:
        path = PurePosixPath(entry)
        if not path.parts or not entry.strip() or path.is_absolute() or ".." in path.parts:
            raise Invalid(
                f"entry {entry!r} must be a relative path inside {inside} (no leading /, no ..)"
            )
    return tuple(str(PurePosixPath(entry)) for entry in entries)


MIGRATIONS_POLICIES: tuple[MigrationsPolicy, ...] = ("warn", "refuse")
NOTIFY_FORMATS: tuple[NotifyFormat, ...] = ("auto", "slack", "discord", "json")


def migrations_policy(value: object) -> MigrationsPolicy:
    return _choice(MIGRATIONS_POLICIES, value)


def notify_format(value: object) -> NotifyFormat:
    return _choice(NOTIFY_FORMATS, value)


def urls(value: object) -> tuple[str, ...]:
    """A list of http(s) URLs (each checked like health.url, none empty)."""
    found = commands(value)
    for given in found:
        if not given:
            raise Invalid("must not hold an empty URL")
        url(given)
    return found


def env_name(value: object) -> str:
    given = text(value)
    if given and not all(ch.isalnum() or ch == "_" for ch in given):
        raise Invalid(f"must be an environment variable name, got {show(given)}")
    return given


def _choice(options: tuple[T, ...], value: object) -> T:
    for option in options:
        if value == option:
            return option
    raise Invalid(f"must be one of {', '.join(map(str, options))}, got {show(value)}")


def preset(value: object) -> Preset:
    return _choice(PRESETS, value)


def share_static(value: object) -> ShareStatic:
    if isinstance(value, bool):
        value = str(value).lower()  # `share_static = true`: a TOML boolean among the words
    return _choice(SHARE_STATIC, value)


def url(value: object) -> str:
    """ "" (no check) or an http(s) URL with a host and, if given, a port from 1 to 65535. A
    user or password in it (`https://user:pass@host/`) is refused: it would be sent to every
    redirect and shown wherever the URL is; errors never show it."""
    import urllib.parse

    given = text(value)
    if not given:
        return given
    shown = show(_without_userinfo(given))
    if any(ch.isspace() or not ch.isprintable() for ch in given):
        raise Invalid(f"must be a URL without spaces or control characters, got {shown}")
    try:
        parts = urllib.parse.urlsplit(given)
    except ValueError as error:  # "Invalid IPv6 URL"
        raise Invalid(f"is not a valid URL ({error}): {shown}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"must be an http:// or https:// URL with a host, got {shown}")
    if "@" in parts.netloc:
        raise Invalid(
            f"must not hold a user or password (user:pass@), got {shown}; put the secret in"
            " the URL's path or query (notify: url_env or url_file keep it out of releases.toml)"
        )
    try:
        port = parts.port  # ValueError when not a number, or out of range
    except ValueError:
        port = 0
    if port == 0:
        raise Invalid(f"has a port that is not a number from 1 to 65535: {shown}")
    return given


def _without_userinfo(given: str) -> str:
    """`given` with anything between `//` and the host's `@` replaced by `***`."""
    scheme, sep, rest = given.partition("//")
    authority, slash, path = rest.partition("/")
    if sep and "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return scheme + sep + authority + slash + path


IO_CLASSES: tuple[IoClass, ...] = ("best-effort", "idle", "none")


def nice(value: object) -> int:
    """A nice increment for build commands: 0 (as the caller) to 19 (the lowest priority)."""
    level = integer(value)
    if not 0 <= level <= 19:
        raise Invalid(f"must be a nice level from 0 to 19, got {level}")
    return level


def io_class(value: object) -> IoClass:
    return _choice(IO_CLASSES, value)


def cpu_limit(value: object) -> str:
    """ "" (none) or a CPU quota like "50%" or "150%" (100% is one core), for systemd-run."""
    import re

    given = text(value).strip()
    if given and re.fullmatch(r"[1-9]\d{0,4}%", given) is None:
        raise Invalid(f'must be "" or a CPU share like "50%" (100% is one core), got {show(value)}')
    return given


SERVE_MODES: tuple[ServeMode, ...] = ("reload", "blue-green")
EXEC_MODES: tuple[ExecMode, ...] = ("cluster", "fork")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def serve_mode(value: object) -> ServeMode:
    return _choice(SERVE_MODES, value)


def exec_mode(value: object) -> ExecMode:
    return _choice(EXEC_MODES, value)


def duration(value: object) -> float:
    """Seconds as a number, or a string like "90s", "15m", "2h" (0 allowed)."""
    import re

    if isinstance(value, str):
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value)
        if found is None:
            raise Invalid(f'must be seconds or a duration like "15m", got {show(value)}')
        value = float(found.group(1)) * _UNITS[found.group(2)]
    return limit(value)


def port_range(value: object) -> str:
    """ "3100-3199": an inclusive range of unprivileged ports, low to high."""
    import re

    found = re.fullmatch(r"(\d{1,5})-(\d{1,5})", text(value).strip())
    low, high = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    if found is None or not 1024 <= low <= high <= 65535:
        raise Invalid(f'must be a port range like "3100-3199" within 1024-65535, got {show(value)}')
    return f"{low}-{high}"


def app_name(value: object) -> str:
    """A name for PM2 apps and nginx upstreams: [a-z0-9_], starting with a letter ("" allowed:
    derived from the root's name). Never all digits (PM2 reads that as a process id)."""
    import re

    name = text(value)
    if name and not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
        raise Invalid(f"must be a letter then up to 39 of a-z 0-9 _, got {show(value)}")
    return name


def instances(value: object) -> int:
    count = integer(value)
    if not 1 <= count <= 64:
        raise Invalid(f"must be from 1 to 64, got {count}")
    return count


def start_command(value: object) -> tuple[str, ...]:
    words = commands(value)
    if not words or not words[0].strip():
        raise Invalid("must be a non-empty list: the script, then its arguments")
    if not any("{port}" in word for word in words):
        raise Invalid("must pass the port: put {port} in one of its arguments")
    return words


def command_words(value: object) -> tuple[str, ...]:
    words = commands(value)
    if not words:
        raise Invalid("must be a non-empty list of words (the program, then its arguments)")
    return words


def environment(value: object) -> tuple[tuple[str, str], ...]:
    import re

    if not isinstance(value, dict):
        raise Invalid(f'must be a table of NAME = "value", got {show(value)}')
    pairs = []
    for name, item in value.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)):
            raise Invalid(f"has an invalid variable name {show(name)}")
        pairs.append((str(name), text(item)))
    return tuple(sorted(pairs))


def url_paths(value: object) -> tuple[str, ...]:
    try:
        return tuple(url_path(item) for item in commands(value))
    except Invalid as error:
        raise Invalid(f"must be a list of URL paths; an item {error.message}") from None


def count(value: object, low: int, high: int) -> int:
    number = integer(value)
    if not low <= number <= high:
        raise Invalid(f"must be an integer from {low} to {high}, got {number}")
    return number


def warmup_requests(value: object) -> int:
    return count(value, 0, 10_000)


def concurrency(value: object) -> int:
    return count(value, 1, 64)


def url_path(value: object) -> str:
    given = text(value)
    if not given.startswith("/") or any(ch.isspace() or not ch.isprintable() for ch in given):
        raise Invalid(f"must be a URL path starting with /, got {show(value)}")
    return given


def canary(value: object) -> tuple[tuple[int, float | None], ...]:
    """Canary stages: "" or "0" (none), "10%", or "5%:2m, 25%:5m" (a stage without a duration
    lasts serve.watch); shares from 1 to 99, each above the one before."""
    import re

    given = text(value).strip()
    if given in ("", "0", "0%"):
        return ()
    stages: list[tuple[int, float | None]] = []
    for part in given.split(","):
        found = re.fullmatch(r"\s*(\d{1,2})%\s*(?::\s*(\S+))?\s*", part)
        if found is None:
            raise Invalid(f'must be stages like "10%" or "5%:2m, 25%:5m", got {show(value)}')
        share = int(found.group(1))
        if not 1 <= share <= 99 or (stages and share <= stages[-1][0]):
            raise Invalid(
                f"must have shares from 1% to 99%, each above the last, got {show(value)}"
            )
        seconds = duration(found.group(2)) if found.group(2) else None
        stages.append((share, seconds))
    return tuple(stages)


def fraction(value: object) -> float:
    """A share from 0 to 1 (0.01: 1%)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"must be a number from 0 to 1, got {show(value)}")
    if not 0 <= float(value) <= 1:
        raise Invalid(f"must be a number from 0 to 1, got {show(value)}")
    return float(value)


def ratio(value: object) -> float:
    """A factor of at least 1 (a canary is compared with the stable release)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"must be a number from 1 to 1000, got {show(value)}")
    if not 1 <= float(value) <= 1000:
        raise Invalid(f"must be a number from 1 to 1000, got {show(value)}")
    return float(value)


def min_requests(value: object) -> int:
    return count(value, 1, 1_000_000)
