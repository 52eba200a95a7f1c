"""A structural validator of `--json` documents against their TypedDicts (cli/render.py,
cli/timeline.py): the shapes the code is type-checked against are the shapes real output is
checked against, so the two cannot drift.

JSON types follow the annotations: `str`, `bool`, `int` (never a boolean), `float` (an integer
too), `X | None`, `list[X]`, a nested TypedDict (exactly its keys), and `JsonObject` (any
object).
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

from releases_cli.cli.diffview import DiffJson
from releases_cli.cli.render import DoctorJson, ListJson, StatusJson, SwitchJson
from releases_cli.cli.timeline import HistoryJson
from releases_cli.core import jsonfields

SHAPES: dict[str, type] = {
    "list": ListJson,
    "status": StatusJson,
    "history": HistoryJson,
    "doctor": DoctorJson,
    "switch": SwitchJson,
    "diff": DiffJson,
}


def problems(value: Any, shape: Any, path: str = "$") -> list[str]:
    """Every way `value` departs from `shape`, as `path: what` strings (empty: it conforms)."""
    if is_typeddict(shape):
        return _object_problems(value, shape, path)
    origin = get_origin(shape)
    if origin in (Union, types.UnionType):
        if any(not problems(value, option, path) for option in get_args(shape)):
            return []
        return [f"{path}: {value!r:.60} matches none of {_name(shape)}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {_name(type(value))}"]
        (item,) = get_args(shape)
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{path}[{i}]")]
    if origin is dict:  # JsonObject: any object
        return [] if isinstance(value, dict) else [f"{path}: expected an object, got {value!r:.60}"]
    return [] if _is(value, shape) else [f"{path}: expected {_name(shape)}, got {value!r:.60}"]


def _hints(shape: Any) -> dict[str, Any]:
    # JsonObject's recursive JsonValue lives in jsonfields, not in the shape's own module.
    return get_type_hints(shape, localns=vars(jsonfields))


def keys(shape: Any) -> set[str]:
    """Every key of a shape and of the shapes nested in it."""
    if is_typeddict(shape):
        hints = _hints(shape)
        return set(hints) | {k for sub in hints.values() for k in keys(sub)}
    return {k for sub in get_args(shape) for k in keys(sub)}


def _object_problems(value: Any, shape: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {_name(type(value))}"]
    hints = _hints(shape)
    found = [f"{path}: missing key {key!r}" for key in hints if key not in value]
    found += [f"{path}: undocumented key {key!r}" for key in value if key not in hints]
    for key, sub in hints.items():
        if key in value:
            found += problems(value[key], sub, f"{path}.{key}")
    return found


def _is(value: Any, kind: Any) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is type(None):
        return value is None
    return isinstance(value, kind)


def _name(shape: Any) -> str:
    if get_origin(shape) in (Union, types.UnionType):
        return " or ".join(_name(s) for s in get_args(shape))
    if get_origin(shape) is list:
        return "array"
    if is_typeddict(shape) or get_origin(shape) is dict:
        return "object"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
    return names.get(shape, getattr(shape, "__name__", str(shape)))
