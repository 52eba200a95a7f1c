"""JSON values and one strict codec between them and the records of the state files (NamedTuples,
and the freeze's frozen dataclass).

`Codec.decode(cls, obj)` reads a JSON object into `cls` (a dataclass or a NamedTuple) field by
field: a key of the
wrong type raises Malformed (the caller turns that into a warning and a safe value), a missing
key takes the field's default (None for a nullable field without one), and keys this version
does not know are ignored (a newer writer never breaks an older reader). `encode` writes the
fields back.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime
from typing import NamedTuple, TypeVar, cast, get_type_hints

from releases_cli.core.clock import iso, parse_iso
from releases_cli.core.compat import StrEnum
from releases_cli.core.ids import ReleaseId, is_valid_id

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = dict[str, JsonValue]
Reader = Callable[[JsonValue], object]

T = TypeVar("T")
_MISSING = dataclasses.MISSING


class Malformed(ValueError):
    """A JSON value that does not have the shape its reader expects."""


_DECODER = json.JSONDecoder()
_JSON_SPACE = " \t\n\r"


def loads_object(data: bytes) -> JsonObject:
    """A JSON object from UTF-8 `data`; Malformed for invalid JSON or any other JSON value.

    json.loads, minus its per-call set-up (encoding detection, a regex for the blanks around
    the value): `list` of 1,000 releases parses 4,000 of these.
    """
    try:
        text = data.decode().strip(_JSON_SPACE)
        value, end = _DECODER.raw_decode(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Malformed("not JSON") from None
    if end != len(text):
        raise Malformed("not JSON (extra data after the value)")
    if not isinstance(value, dict):
        raise Malformed(f"a JSON {type(value).__name__}, not an object")
    return cast(JsonObject, value)


def _shown(value: JsonValue) -> str:
    return f"{json.dumps(value)[:40]}"


def text(value: JsonValue) -> str:
    if not isinstance(value, str):
        raise Malformed(f"expected a string, got {_shown(value)}")
    return value


def number(value: JsonValue) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"expected a number, got {_shown(value)}")
    return float(value)


def integer(value: JsonValue) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"expected an integer, got {_shown(value)}")
    return value


def flag(value: JsonValue) -> bool:
    if not isinstance(value, bool):
        raise Malformed(f"expected true or false, got {_shown(value)}")
    return value


def timestamp(value: JsonValue) -> datetime:
    """An ISO 8601 string with its UTC offset (a number or a naive time is refused)."""
    try:
        return parse_iso(text(value))
    except ValueError as error:
        raise Malformed(f"expected a timestamp with its offset, got {_shown(value)}") from error


def release_id(value: JsonValue) -> str:
    if not isinstance(value, str) or not is_valid_id(value):
        raise Malformed(f"expected a release id, got {_shown(value)}")
    return value


def texts(value: JsonValue) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise Malformed(f"expected an array of strings, got {_shown(value)}")
    return tuple(text(item) for item in value)


def release_ids(value: JsonValue) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise Malformed(f"expected an array of release ids, got {_shown(value)}")
    return tuple(release_id(item) for item in value)


def text_map(value: JsonValue) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Malformed(f"expected an object of strings, got {_shown(value)}")
    return {key: text(item) for key, item in value.items()}


def text_by_id(value: JsonValue) -> dict[str, str]:
    return {release_id(key): item for key, item in text_map(value).items()}


def optional(reader: Reader) -> Reader:
    def read(value: JsonValue) -> object:
        return None if value is None else reader(value)

    return read


# Readers of the field types the state files use, by annotation.
BASE_READERS: dict[object, Reader] = {
    ReleaseId: release_id,
    ReleaseId | None: optional(release_id),
    tuple[ReleaseId, ...]: release_ids,
    dict[ReleaseId, str]: text_by_id,
    str: text,
    str | None: optional(text),
    float | None: optional(number),
    int | None: optional(integer),
    bool: flag,
    datetime | None: optional(timestamp),
    tuple[str, ...]: texts,
    dict[str, str]: text_map,
}


# Field types whose JSON value is taken as it is when its type is exactly one of these (the
# common case, without a reader call: `list` of 1,000 releases decodes 4,000 objects).
_AS_IS: dict[object, frozenset[type]] = {
    str: frozenset({str}),
    str | None: frozenset({str, type(None)}),
    float | None: frozenset({float, type(None)}),
    int | None: frozenset({int, type(None)}),
    bool: frozenset({bool}),
}


class _Field(NamedTuple):
    name: str
    as_is: frozenset[type]  # a value of exactly one of these types is kept unread
    read: Reader  # checks (raising Malformed) and converts any other value
    default: object  # _MISSING: required
    nullable: bool  # a required field that may be null (absent reads as null)


def _defaults(cls: type) -> dict[str, object]:
    """Field name -> default (_MISSING when required) of a dataclass or a NamedTuple, in order."""
    if dataclasses.is_dataclass(cls):
        return {spec.name: _default(spec) for spec in fields(cls)}
    named: tuple[str, ...] = getattr(cls, "_fields")  # noqa: B009 (a NamedTuple class)
    given: dict[str, object] = getattr(cls, "_field_defaults")  # noqa: B009
    return {name: given.get(name, _MISSING) for name in named}


class Codec:
    """Decodes dataclasses and NamedTuples whose field types all have a reader in `readers`."""

    def __init__(self, readers: Mapping[object, Reader]) -> None:
        self._readers = dict(readers)
        self._plans: dict[type, tuple[_Field, ...]] = {}

    def _plan(self, cls: type) -> tuple[_Field, ...]:
        """How to read each field of `cls` (worked out once per class)."""
        plan = self._plans.get(cls)
        if plan is None:
            hints = get_type_hints(cls, include_extras=True)
            plan = tuple(self._field(cls, n, hints[n], d) for n, d in _defaults(cls).items())
            self._plans[cls] = plan
        return plan

    def _field(self, cls: type, name: str, hint: object, default: object) -> _Field:
        reader = self._readers.get(hint)
        if reader is None:
            raise TypeError(f"{cls.__name__}.{name}: no JSON reader for {hint}")
        nullable = type(None) in getattr(hint, "__args__", ())
        return _Field(name, _AS_IS.get(hint, frozenset()), reader, default, nullable)

    def decode(self, cls: type[T], obj: Mapping[str, JsonValue]) -> T:
        """Dataclass `cls` from `obj` (see the module doc); Malformed names the bad key."""
        values: list[object] = []  # positional: cheaper than keywords, 4,000 times over
        for name, as_is, read, default, nullable in self._plan(cls):
            value = obj.get(name, _MISSING)
            if type(value) in as_is:
                values.append(value)
            elif value is not _MISSING:
                try:
                    values.append(read(value))
                except Malformed as error:
                    raise Malformed(f"{name!r}: {error}") from None
            elif default is not _MISSING:
                values.append(_fresh(default))
            elif nullable:
                values.append(None)
            else:
                raise Malformed(f"{name!r} is missing")
        # A string cast: `Callable[..., T]` would build a typing object on every call.
        return cast("Callable[..., T]", cls)(*values)


def _json(value: object) -> JsonValue:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, tuple | list):
        return [_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json(item) for key, item in value.items()}
    return cast(JsonValue, value)


def encode(obj: object, omit_defaults: bool = True) -> JsonObject:
    """The fields of dataclass or NamedTuple `obj` as a JSON object. A required field is always
    written (null included); a field still at its default is left out, or with
    `omit_defaults=False` only when it is null (false and [] are then written: a meta file says
    `"build": []`)."""
    result: JsonObject = {}
    for name, default in _defaults(type(obj)).items():
        value = getattr(obj, name)
        if default is not _MISSING and (value is None or (omit_defaults and value == default)):
            continue
        result[name] = _json(value)
    return result


def _fresh(default: object) -> object:
    """A default as a field gets it: a new empty container, never one shared between objects."""
    return type(default)() if isinstance(default, dict | list) else default


def _default(spec: dataclasses.Field[object]) -> object:
    """The field's default value (a fresh one from its factory), or _MISSING when required."""
    if spec.default_factory is not _MISSING:
        return spec.default_factory()
    return spec.default
