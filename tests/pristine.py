"""The commands' own copy of releases_cli for in-process calls, each call starting from the
module state an import leaves.

A process imports the package afresh for every command, so nothing a command keeps in a module
(a warning remembered as said, core/warn.py; a filled cache) reaches the next one, nor does
what the tests' own use of the library left in the tests' copy. Importing afresh for every
call costs 40-70 ms, so the copy is kept as long as every call leaves its module state as the
import left it, and imported afresh before the next call otherwise. Module state here is what
module and class namespaces hold: each name's object, and the contents of sets, dicts, lists
(shallow). functools caches are emptied after every call: a process starts with them cold.
"""

from __future__ import annotations

import collections
import copy
import importlib
import pkgutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

PACKAGE = "releases_cli"
_CONTAINERS = (set, dict, list, bytearray, collections.deque)

Fingerprint = dict[tuple[str, str], tuple[int, object]]


class CommandsCopy:
    """The copy of the package the in-process commands import, and its state after import."""

    def __init__(self, home: Path) -> None:
        self._home = home  # the checkout whose package the commands must run
        self._modules: dict[str, ModuleType] = {}
        self._pristine: Fingerprint | None = None

    @contextmanager
    def installed(self) -> Iterator[None]:
        """sys.modules holds the commands' copy for the block, the tests' copy again after."""
        tests_copy = _take_out()
        if self._pristine is None or fingerprint(self._modules) != self._pristine:
            self._modules = self._import_whole()
            self._pristine = fingerprint(self._modules)
        sys.modules.update(self._modules)
        try:
            yield
        finally:
            self._modules = _take_out()  # with what the call imported, if anything (then: afresh)
            _empty_caches(self._modules)
            sys.modules.update(tests_copy)

    def _import_whole(self) -> dict[str, ModuleType]:
        """Every module of the package, imported afresh (lazily imported ones too: their state
        after import must be known before a command uses them); not __main__, which runs."""
        package = importlib.import_module(PACKAGE)
        if not Path(str(package.__file__)).resolve().is_relative_to(self._home):
            raise RuntimeError(f"{PACKAGE} is imported from {package.__file__}, not {self._home}")
        for module in pkgutil.walk_packages(package.__path__, PACKAGE + "."):
            if not module.name.endswith(".__main__"):
                importlib.import_module(module.name)
        return {name: module for name, module in sys.modules.items() if _ours(name)}


def fingerprint(modules: Mapping[str, ModuleType]) -> Fingerprint:
    """Each name in the modules' and their classes' namespaces: its object and the contents of
    a mutable container (functools caches aside: they are emptied instead)."""
    found: Fingerprint = {}
    for owner, namespace in _namespaces(modules):
        for key, value in namespace.items():
            if not (key.startswith("__") and key.endswith("__")):
                contents = copy.copy(value) if isinstance(value, _CONTAINERS) else None
                found[owner, key] = (id(value), contents)
    return found


def _namespaces(modules: Mapping[str, ModuleType]) -> Iterator[tuple[str, Mapping[str, object]]]:
    for name, module in modules.items():
        yield name, vars(module)
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == name:
                yield f"{name}:{value.__qualname__}", vars(value)


def _empty_caches(modules: Mapping[str, ModuleType]) -> None:
    for _owner, namespace in _namespaces(modules):
        for value in namespace.values():
            clear = getattr(value, "cache_clear", None) if callable(value) else None
            if callable(clear):
                clear()


def _ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _take_out() -> dict[str, ModuleType]:
    """Our modules, removed from sys.modules."""
    taken = {name: module for name, module in sys.modules.items() if _ours(name)}
    for name in taken:
        del sys.modules[name]
    return taken
