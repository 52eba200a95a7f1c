"""Run one `releases` command in this process with a wall-clock timer around each of its phases
(the child of phases.py; run as `python -X importtime _phase_probe.py OUT.json ARGS...`).

Each phase is a function of the package, wrapped when its module is first imported (so by-name
imports elsewhere get the wrapper too, and no module is imported earlier than the command would
import it). Times are self times: a phase nested in another (a history line inside the switch)
is taken out of the outer one. Each phase also writes `@@ enter/leave LABEL` to stderr, so the
parent can tell in which phase every `-X importtime` line (a lazy import) fell. A phase the
package no longer has is reported as missing, not fatal: the probe outlives refactors.
"""

# ruff: noqa: E402 (the clock is read before anything else is imported)
from __future__ import annotations

import time

STARTED = time.perf_counter()  # CLOCK_MONOTONIC: comparable with the parent's clock

import contextlib
import functools
import importlib.machinery
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing is part of the command's cost
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import ModuleType
    from typing import Any

# module -> (attribute path, label, is a context manager)
PHASES: dict[str, list[tuple[str, str, bool]]] = {
    "releases_cli.core.lock": [("hold", "lock", True)],
    "releases_cli.core.recovery": [("recover", "recovery", False)],
    "releases_cli.core.state": [("snapshot", "state read", False)],
    "releases_cli.sources.git.source": [
        ("GitSource.prepare", "fetch", False),
        ("GitSource.export", "export", False),
    ],
    "releases_cli.core.tree": [("tree_size", "size", False)],
    "releases_cli.core.fs": [("sync_tree", "sync", False)],
    "releases_cli.core.meta": [("write_meta", "meta", False)],
    "releases_cli.core.events": [("record", "history", False)],
    "releases_cli.core.current": [("switch_to", "switch", False)],
    "releases_cli.core.inuse": [("release_users", "in-use scan", False)],
    "releases_cli.pipelines.retention": [("prune_releases", "prune", False)],
    # in the command: the hand-over of the pruned trees to the detached cleaner (or their
    # deletion, when the cleaner cannot start) and recovery's deletion of a crash's leftovers
    "releases_cli.core.prune": [
        ("delete_pruned", "deletion", False),
        ("empty_trash", "deletion", False),
    ],
}

self_times: dict[str, float] = {}
missing: list[str] = []
_stack: list[list[Any]] = []  # [label, started, time spent in nested phases]


def _enter(label: str) -> None:
    sys.stderr.write(f"@@ enter {label}\n")
    _stack.append([label, time.perf_counter(), 0.0])


def _leave() -> None:
    label, started, nested = _stack.pop()
    elapsed = time.perf_counter() - started
    self_times[label] = self_times.get(label, 0.0) + elapsed - nested
    if _stack:
        _stack[-1][2] += elapsed
    sys.stderr.write(f"@@ leave {label}\n")


def _timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _enter(label)
        try:
            return function(*args, **kwargs)
        finally:
            _leave()

    return wrapper


def _timed_context(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Time entering and leaving the context (e.g. taking and releasing the lock), not the body."""

    @contextlib.contextmanager
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        context = function(*args, **kwargs)
        _enter(label)
        try:
            value = context.__enter__()
        finally:
            _leave()
        try:
            yield value
        except BaseException:
            _enter(label)
            try:
                if not context.__exit__(*sys.exc_info()):
                    raise
            finally:
                _leave()
        else:
            _enter(label)
            try:
                context.__exit__(None, None, None)
            finally:
                _leave()

    return wrapper


def _wrap(module: ModuleType) -> None:
    for path, label, is_context in PHASES[module.__name__]:
        *owners, name = path.split(".")
        owner: Any = module
        for part in owners:
            owner = getattr(owner, part, None)
        original = getattr(owner, name, None)
        if original is None:
            missing.append(f"{module.__name__}.{path}")
            continue
        setattr(owner, name, (_timed_context if is_context else _timed)(label, original))


class _WrapOnImport:  # a meta path finder (duck-typed: importlib.abc costs an import)
    """Finds the modules of PHASES with the normal finders, and wraps their phases as soon as
    the module has run."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in PHASES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader

        class Loader:
            def create_module(self, spec: Any) -> Any:
                return loader.create_module(spec)

            def exec_module(self, module: ModuleType) -> None:
                loader.exec_module(module)
                _wrap(module)

        spec.loader = Loader()  # type: ignore[assignment]
        return spec


def main() -> None:
    out, argv = sys.argv[1], sys.argv[2:]
    sys.meta_path.insert(0, _WrapOnImport())
    ready = time.perf_counter()
    sys.stderr.write("@@ enter start-up\n")
    import releases_cli.cli.app as app

    imported = time.perf_counter()
    sys.stderr.write("@@ leave start-up\n@@ enter cli\n")
    sys.argv = ["releases", *argv]
    code: Any = 0
    try:
        app.main()
    except SystemExit as exit_:
        code = exit_.code
    finished = time.perf_counter()
    sys.stderr.write("@@ leave cli\n")
    import json  # not before: the command would find it imported already

    with open(out, "w") as handle:
        json.dump(
            {
                "started": STARTED,
                "ready": ready,
                "imported": imported,
                "finished": finished,
                "phases": self_times,
                "missing": missing,
                "code": code,
            },
            handle,
        )
    if hasattr(app, "run"):  # the entry point ends with os._exit (no teardown): so does this
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)
    sys.exit(code)


if __name__ == "__main__":
    main()
