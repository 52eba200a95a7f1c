"""`releases diff` rendered: a list of changed paths (like `git diff --name-status`) and the git
log between the two revisions, or the DiffJson document."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TypedDict

from releases_cli.cli.render import JSON_VERSION
from releases_cli.cli.text import shown

if TYPE_CHECKING:
    from releases_cli.pipelines.diff import DiffResult

SHOWN = 200  # paths listed per kind in the text form (--json lists all)


class DiffJson(TypedDict):
    version: int
    a: str  # the older side (default: the previously live release)
    b: str  # the newer side (default: current)
    added: list[str]  # paths in b only
    removed: list[str]  # paths in a only
    changed: list[str]  # paths in both whose kind, link target or content differ
    ignored: list[str]  # names and paths left out (--all: none)
    commits: list[str] | None  # `<sha> <subject>` in b not in a; null: not two git releases
    dropped_commits: list[str] | None  # in a, not in b (b is older than a)
    git_note: str | None  # why there is no git log when one was expected


def as_json(result: DiffResult) -> str:
    document: DiffJson = {
        "version": JSON_VERSION,
        "a": result.a,
        "b": result.b,
        "added": result.added,
        "removed": result.removed,
        "changed": result.changed,
        "ignored": list(result.ignored),
        "commits": result.git.added if result.git else None,
        "dropped_commits": result.git.dropped if result.git else None,
        "git_note": result.git_note,
    }
    return json.dumps(document, indent=2)


def as_text(result: DiffResult) -> str:
    counts = (
        f"{len(result.added)} added, {len(result.removed)} removed, {len(result.changed)} changed"
    )
    lines = [f"{result.a} -> {result.b}: {counts}"]
    for mark, paths in (("A", result.added), ("D", result.removed), ("M", result.changed)):
        lines += [f"{mark} {shown(path)}" for path in paths[:SHOWN]]
        if len(paths) > SHOWN:
            lines.append(f"{mark} … and {len(paths) - SHOWN} more (--json lists all)")
    if result.ignored:
        lines.append(f"left out: {shown(', '.join(result.ignored))} (--all includes them)")
    if result.git is not None:
        lines.append(f"git: {len(result.git.added)} commit(s) in {result.b} not in {result.a}")
        lines += [f"  {shown(commit)}" for commit in result.git.added]
        if result.git.dropped:
            lines.append(
                f"git: {len(result.git.dropped)} commit(s) in {result.a} not in {result.b}"
            )
            lines += [f"  {shown(commit)}" for commit in result.git.dropped]
    elif result.git_note:
        lines.append(f"git: {shown(result.git_note)}")
    return "\n".join(lines)
