"""One-line warnings about damaged state, each said once per command.

A command reads the same damaged file several times (recovery, then the command's own
snapshot, then prune's); the person running it needs to hear about it once.
"""

from __future__ import annotations

import logging

log = logging.getLogger("releases_cli")
_said: set[str] = set()


def warn_once(message: str) -> None:
    """Log `message` as a warning unless this process already did."""
    if message not in _said:
        _said.add(message)
        log.warning("%s", message)
