"""What Python 3.11 added that the tool uses, for Python 3.10 (Ubuntu 22.04's python3).

Import `UTC` and `StrEnum` from here, never from datetime/enum, and read TOML with
`load_toml`: `make test-pythons` runs the tests on every supported version.
"""

from __future__ import annotations

import sys
from datetime import timezone
from enum import Enum
from typing import Any

UTC = timezone.utc

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:

    class StrEnum(str, Enum):
        """3.11's StrEnum: a member is its value in str() and format(), as in JSON."""

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return str(self.value).__format__(spec)


class TomlError(ValueError):
    """Text that is not valid TOML; the message is the parser's (line and column)."""


def load_toml(text: str) -> dict[str, Any]:
    """Parse TOML with tomllib (3.11+) or tomli (3.10); imported here only when needed."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TomlError(str(error)) from None


def run_module_argv(module: str) -> list[str]:
    """Interpreter options that run `module` as `python -m` does, without the cwd on sys.path.

    3.11+ has -P for that; on 3.10 the same is done by a -c that drops sys.path[0] (the cwd)
    before anything is imported.
    """
    if sys.version_info >= (3, 11):
        return ["-P", "-m", module]
    code = "import sys; del sys.path[0]; import runpy; "
    code += f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
    return ["-c", code]
