"""releases.toml + command-line flags -> one frozen, typed Config, checked before anything runs.

`sections` holds the settings (one NamedTuple per section; docs/configuration.md
documents every key, and tests/cli/test_config.py keeps the two in sync), `values` one reader per
kind of value, `document` the reading of a parsed file. A bad value is an InvalidInput (exit 3)
naming the file, the line and the key (and the nearest valid key for a typo), or the flag.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from releases_cli.config import values
from releases_cli.config.document import defaults, line_of, read_document
from releases_cli.config.sections import (
    AnalysisConfig,
    BuildConfig,
    Config,
    Flags,
    HealthConfig,
    HookPoint,
    HooksConfig,
    MigrationsConfig,
    NotifyConfig,
    RestartConfig,
    ServeConfig,
    SharedConfig,
    SourceConfig,
    flag,
)
from releases_cli.core.compat import TomlError, load_toml
from releases_cli.core.errors import InvalidInput
from releases_cli.core.layout import DeployRoot

__all__ = [
    "AnalysisConfig",
    "BuildConfig",
    "Config",
    "Flags",
    "HealthConfig",
    "HookPoint",
    "HooksConfig",
    "MigrationsConfig",
    "NotifyConfig",
    "RestartConfig",
    "ServeConfig",
    "SharedConfig",
    "SourceConfig",
    "check_wait",
    "defaults",
    "load",
    "loads",
    "parse",
]

MAX_BYTES = 1 << 20  # a configuration is a few hundred bytes; anything near this is not one


def load(root: DeployRoot) -> Config:
    """The root's releases.toml (all defaults when there is none)."""
    path = root.config_file
    data = read_capped(path)
    if data is None:
        return Config()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InvalidInput(f"{path}:{line}: not UTF-8 text ({error.reason})") from None
    return loads(text, str(path))


def loads(text: str, where: str = "releases.toml") -> Config:
    """Parse and check a configuration's text; `where` names it in messages."""
    try:
        document = load_toml(text)
    except TomlError as error:
        raise InvalidInput(f"{where} is not valid TOML: {error}") from None
    except RecursionError:
        raise InvalidInput(f"{where} is not valid TOML: nested too deeply") from None
    return parse(document, where, text)


def parse(document: Mapping[str, object], where: str = "releases.toml", text: str = "") -> Config:
    """Check a parsed TOML document; `text`, its source, lets a message name the line."""
    try:
        return read_document(document)
    except values.Invalid as error:
        line = line_of(text, error.key) if text and error.key else None
        raise InvalidInput(f"{where}{f':{line}' if line else ''}: {error.message}") from None


def check_wait(seconds: float) -> float:
    """`--wait SECONDS` (a flag only), checked like the file's time limits."""
    return flag("--wait", values.limit, seconds, 0.0)


def read_capped(path: Path) -> bytes | None:
    """The file's bytes, or None when there is none. Opened without blocking and read only
    when it is a regular file (a FIFO or a device behind a symlink must neither hang nor stream
    forever), and at most MAX_BYTES."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InvalidInput(f"{path} is a symlink to nothing ({os.readlink(path)})") from None
        return None
    except OSError as error:
        raise InvalidInput(f"{path}: cannot open: {error.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidInput(f"{path} is not a regular file")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 65536):
            size += len(chunk)
            if size > MAX_BYTES:
                raise InvalidInput(f"{path} is larger than {MAX_BYTES >> 10} KiB: not a config")
            chunks.append(chunk)
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read: {error.strerror}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)
