"""Where the generated include sits in nginx's configuration: it must be an `include` line in
the http block of serve.nginx_config itself (the include holds `upstream` and `map`, which
only the http context accepts, and the test copy of that file is what `nginx -t` checks).

Read-only and bounded: the admin's files, each read up to CAP bytes, at most FILES of them,
through the main config's own `include` globs plus sites-available/ beside it (where a server
block is often written before it is enabled).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from releases_cli.core.safefs import read_capped

CAP = 1 << 20
FILES = 200
_TOKEN = re.compile(r"""#[^\n]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[{};]|[^\s{};"'#]+""")


def statements(text: str) -> Iterator[tuple[tuple[str, ...], list[str]]]:
    """Each simple directive `words;` with the names of the blocks around it, outermost first."""
    blocks: list[str] = []
    words: list[str] = []
    for word in _TOKEN.findall(text):
        if word.startswith("#"):
            continue
        if word == "{":
            blocks.append(words[0] if words else "")
            words = []
        elif word == "}":
            if blocks:
                blocks.pop()
            words = []
        elif word == ";":
            if words:
                yield tuple(blocks), words
            words = []
        else:
            words.append(_unquoted(word))


def _unquoted(word: str) -> str:
    """A word as nginx reads it: quotes removed, `\\x` escapes resolved in a quoted one."""
    if len(word) < 2 or word[0] not in "\"'" or word[-1] != word[0]:
        return word
    escapes = {"t": "\t", "r": "\r", "n": "\n"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), word[1:-1], flags=re.S)


def names(word: str, include: Path, base: Path) -> bool:
    """Whether an include's path word names `include`: as written, or once both are resolved
    (a root reached through a symlink; a relative word is relative to `base`)."""
    if word == str(include):
        return True
    if any(ch in word for ch in "*?["):
        return False
    return os.path.realpath(base / word) == os.path.realpath(include)


def contexts_of(text: str, include: Path, base: Path) -> list[tuple[str, ...]]:
    """The block paths of every `include <include>;` in `text` (`("http",)`: where it belongs)."""
    return [
        ctx
        for ctx, words in statements(text)
        if words[0] == "include" and any(names(w, include, base) for w in words[1:])
    ]


def spellings_in(main: Path, include: Path) -> list[bytes]:
    """How `main` writes the paths of its `include` lines that name `include` but not as
    `str(include)` does (so a test copy can point them elsewhere)."""
    text = read(main)
    if text is None:
        return []
    found = []
    for word in _TOKEN.findall(text):
        plain = _unquoted(word)
        if plain == str(include) or os.path.basename(plain) != include.name:
            continue  # the usual spelling, or no path to this file name: no lookup
        if os.path.isabs(plain) and names(plain, include, main.parent):
            found.append(word.encode())
    return found


def read(path: Path) -> str | None:
    """The file's text, or None when it is not a regular file of at most CAP bytes we can read.
    Links are followed: sites-enabled/ holds links, and these are the admin's files."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO never blocks
    except OSError:
        return None
    try:
        return read_capped(fd, str(path), CAP).decode("utf-8", errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _included_files(main: Path, text: str) -> list[Path]:
    """Files the main config's `include` lines name (relative ones from its directory), and the
    files in sites-available/ beside it."""
    found: list[Path] = []
    for _, words in statements(text):
        if words[0] != "include" or len(words) < 2:
            continue
        pattern = words[1] if os.path.isabs(words[1]) else str(main.parent / words[1])
        found += [Path(p) for p in sorted(glob.glob(pattern))[:FILES]]
    available = main.parent / "sites-available"
    if available.is_dir():
        found += sorted(p for p in available.iterdir() if p.is_file())[:FILES]
    return found[:FILES]


class Misplaced(NamedTuple):
    problem: str  # where the include line is (or that there is none)
    fix: str  # where it must go

    def __str__(self) -> str:
        return f"{self.problem}: {self.fix}"


def placement(main: Path, include: Path) -> Misplaced | None:
    """None when `main` has `include <include>;` in its http block; else where the line is
    instead and how to fix it (doctor, and before every include change)."""
    text = read(main)
    if text is None:
        return Misplaced(f"cannot read {main}", "check serve.nginx_config")
    line = f"`include {include};`"
    fix = f"put {line} inside the `http {{ }}` block of {main} itself"
    contexts = contexts_of(text, include, main.parent)
    if ("http",) in contexts:
        return None
    if contexts:
        where = " > ".join(contexts[0]) or "the top level"
        return Misplaced(f"{main} has {line} in {where}, not in the http block", f"move it: {fix}")
    for other in _included_files(main, text):
        other_text = read(other)
        if other_text is not None and contexts_of(other_text, include, main.parent):
            return Misplaced(f"{line} is in {other}, not in {main}", f"remove it there and {fix}")
    return Misplaced(f"{main} has no {line}", f"{fix} (`releases nginx` prints it)")
