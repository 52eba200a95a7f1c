"""The documented shapes of every `--json` output, and a small structural validator.

A shape is written in plain Python values:
- a type (`str`, `int`, `float`, `bool`, `NULL`, `ANY`): the value has that JSON type
  (`float` also accepts integers; `int` never accepts booleans);
- a tuple of shapes: any one of them (`(str, NULL)` is "string or null");
- a list with one shape: an array whose every item has that shape;
- a dict: an object with exactly these keys, each with its shape.

Changing a shape in a way a script could notice (removing or retyping a key) means bumping its
`version`; adding a key keeps the version (scripts must ignore keys they do not know). The
README's "JSON output" section documents the same shapes; a test keeps them in step.
"""

from __future__ import annotations

from typing import Any

NULL = type(None)
ANY = object

VERSION = 1

RELEASE: dict[str, Any] = {
    "id": str,
    "status": str,  # current / previous / staged / complete / failed / incomplete
    "complete": bool,
    "path": str,
    "created_at": str,
    "age_seconds": int,
    "size": (int, NULL),
    "revision": (str, NULL),
    "subject": (str, NULL),
    "source": (str, NULL),
    "deployed_by": (str, NULL),
    "build_seconds": (float, NULL),
    "deps": (str, NULL),
    "pinned": bool,
    "in_use_by": [int],
    "error": (str, NULL),
}

LIST: dict[str, Any] = {
    "version": int,
    "root": str,
    "current": (str, NULL),
    "previous": (str, NULL),
    "releases": [RELEASE],
    "warnings": [str],
}

STATUS: dict[str, Any] = {
    "version": int,
    "root": str,
    "current": (str, NULL),
    "path": (str, NULL),
    "previous": (str, NULL),
    "release": (RELEASE, NULL),
    "warnings": [str],
}

EVENT: dict[str, Any] = {
    "ts": str,
    "event": str,  # the raw event name in history.jsonl
    "kind": str,  # deploy / failed / interrupted / rollback / switch / prune / recovered / ...
    "id": (str, NULL),
    "previous": (str, NULL),
    "ids": [str],
    "user": (str, NULL),
    "host": (str, NULL),
    "seconds": (float, NULL),
    "revision": (str, NULL),
    "subject": (str, NULL),
    "error": (str, NULL),
    "data": ANY,  # the whole raw event, for anything not lifted above
}

HISTORY: dict[str, Any] = {
    "version": int,
    "root": str,
    "events": [EVENT],
    "warnings": [str],
}

SWITCH: dict[str, Any] = {  # `switch --json`: the result of a state change, not a read
    "version": int,
    "id": str,
    "previous": (str, NULL),
    "seconds": float,
    "pruned": [str],
}

FINDING: dict[str, Any] = {
    "check": str,  # layout, permissions, current, temp links, disk, pm2, ...
    "ok": bool,
    "message": str,
    "fix": str,  # empty when ok
}

DOCTOR: dict[str, Any] = {
    "version": int,
    "root": str,
    "ok": bool,
    "findings": [FINDING],
}

SHAPES: dict[str, dict[str, Any]] = {
    "list": LIST,
    "status": STATUS,
    "history": HISTORY,
    "doctor": DOCTOR,
    "switch": SWITCH,
}


def problems(value: Any, shape: Any, path: str = "$") -> list[str]:
    """Every way `value` departs from `shape`, as `path: what` strings (empty: it conforms)."""
    if isinstance(shape, tuple):
        if any(not problems(value, option, path) for option in shape):
            return []
        return [f"{path}: {value!r:.60} matches none of {_name(shape)}"]
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {_name(type(value))}"]
        return [p for i, item in enumerate(value) for p in problems(item, shape[0], f"{path}[{i}]")]
    if isinstance(shape, dict):
        return _object_problems(value, shape, path)
    return [] if _is(value, shape) else [f"{path}: expected {_name(shape)}, got {value!r:.60}"]


def _object_problems(value: Any, shape: dict[str, Any], path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {_name(type(value))}"]
    found = [f"{path}: missing key {key!r}" for key in shape if key not in value]
    found += [f"{path}: undocumented key {key!r}" for key in value if key not in shape]
    for key, sub in shape.items():
        if key in value:
            found += problems(value[key], sub, f"{path}.{key}")
    return found


def _is(value: Any, kind: Any) -> bool:
    if kind is ANY:
        return True
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _name(shape: Any) -> str:
    if isinstance(shape, tuple):
        return " or ".join(_name(s) for s in shape)
    if isinstance(shape, list):
        return "array"
    if isinstance(shape, dict):
        return "object"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", NULL: "null"}
    return names.get(shape, getattr(shape, "__name__", str(shape)))
