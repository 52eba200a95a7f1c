"""releases.toml + command-line flags -> a frozen Config.

Every key is declared once in SCHEMA (type and default); the README's configuration reference
mirrors it. Unknown keys and wrong types are errors that name the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from typing import Any

from releases_cli.core.errors import InvalidInput
from releases_cli.core.layout import DeployRoot
from releases_cli.nextjs import preset, static_share

# (section, key) -> (python type, default). Section "" is the top level.
SCHEMA: dict[tuple[str, str], tuple[type, Any]] = {
    ("", "keep"): (int, 5),
    ("source", "path"): (str, ""),
    ("source", "repo"): (str, ""),
    ("source", "ref"): (str, ""),
    ("source", "submodules"): (bool, False),
    ("build", "commands"): (list, None),  # None: preset decides (none, or Next.js defaults)
    ("build", "preset"): (str, "auto"),
    ("build", "timeout"): (int, 0),
    ("build", "share_static"): (str, "auto"),  # "auto" / true / false (see skew.py)
    ("shared", "files"): (list, []),
    ("shared", "dirs"): (list, []),
    ("restart", "command"): (str, ""),
    ("restart", "timeout"): (int, 300),
    ("health", "url"): (str, ""),
    ("health", "status"): (int, 200),
    ("health", "timeout"): (float, 60.0),
    ("health", "interval"): (float, 1.0),
    ("health", "check_build_id"): (bool, True),
    ("hooks", "before_build"): (list, []),
    ("hooks", "after_build"): (list, []),
    ("hooks", "before_switch"): (list, []),
    ("hooks", "after_switch"): (list, []),
    ("hooks", "after_rollback"): (list, []),
    ("hooks", "on_failure"): (list, []),
}

# Keys whose value must be one of a few words.
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("build", "preset"): preset.PRESETS,
    ("build", "share_static"): static_share.SETTINGS,
}

_TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    list: "a list of strings",
}


@dataclass(frozen=True)
class Config:
    """Effective settings. `values` holds every SCHEMA key after file and flag overrides."""

    values: dict[tuple[str, str], Any] = field(default_factory=dict)

    def get(self, section: str, key: str) -> Any:
        return self.values[(section, key)]

    @property
    def keep(self) -> int:
        return int(self.get("", "keep"))

    def with_overrides(self, **flags: Any) -> Config:
        """Apply command-line flags given as `section__key=value`; None means "not given"."""
        values = dict(self.values)
        for name, value in flags.items():
            if value is None:
                continue
            section, _, key = name.rpartition("__")
            values[(section, key)] = _check((section, key), value)
        return replace(self, values=values)


def _dotted(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _check(name: tuple[str, str], value: Any) -> Any:
    expected, _ = SCHEMA[name]
    if isinstance(value, bool) and "true" in CHOICES.get(name, ()):
        value = str(value).lower()  # `share_static = true`: a TOML boolean among the words
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if expected is list:
        ok = ok and all(isinstance(item, str) for item in value)
    if not ok:
        raise InvalidInput(
            f"config: {_dotted(*name)} must be {_TYPE_NAMES[expected]}, got {value!r}"
        )
    if name == ("", "keep") and value < 1:
        raise InvalidInput(f"config: keep must be at least 1, got {value}")
    if name in CHOICES and value not in CHOICES[name]:
        raise InvalidInput(
            f"config: {_dotted(*name)} must be one of {', '.join(CHOICES[name])}, got {value!r}"
        )
    return value


def parse(document: dict[str, Any]) -> Config:
    """Validate a parsed TOML document against SCHEMA."""
    values = {name: default for name, (_, default) in SCHEMA.items()}
    sections = {section for section, _ in SCHEMA if section}
    for key, value in document.items():
        if key in sections:
            if not isinstance(value, dict):
                raise InvalidInput(f"config: [{key}] must be a table")
            for sub, subvalue in value.items():
                if (key, sub) not in SCHEMA:
                    raise InvalidInput(f"config: unknown key {key}.{sub}")
                values[(key, sub)] = _check((key, sub), subvalue)
        elif ("", key) in SCHEMA:
            values[("", key)] = _check(("", key), value)
        else:
            raise InvalidInput(f"config: unknown key {key}")
    return Config(values)


def load(root: DeployRoot) -> Config:
    """The root's releases.toml (all defaults when there is none)."""
    try:
        text = root.config_file.read_text()
    except FileNotFoundError:
        return parse({})
    except OSError as error:
        raise InvalidInput(f"config: cannot read {root.config_file}: {error.strerror}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(f"config: {root.config_file} is not valid TOML: {error}") from None
    return parse(document)
