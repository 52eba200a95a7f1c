"""One `releases doctor` finding: what was checked, whether it is fine, and the fix when not.
In core so that every layer with something to check (the serving strategies, the pipelines)
can say it in the same shape."""

from __future__ import annotations

from typing import NamedTuple


class Finding(NamedTuple):
    check: str
    ok: bool
    message: str
    fix: str = ""


def ok(check: str, message: str) -> Finding:
    return Finding(check, True, message)


def problem(check: str, message: str, fix: str) -> Finding:
    return Finding(check, False, message, fix)
