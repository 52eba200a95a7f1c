"""The Next.js integration's settings and their allowed values, kept apart from the code that
acts on them so that reading releases.toml (every command) does not import that code."""

from __future__ import annotations

from typing import Literal

Preset = Literal["auto", "nextjs", "none"]  # build.preset
PRESETS: tuple[Preset, ...] = ("auto", "nextjs", "none")

ShareStatic = Literal["auto", "true", "false"]  # build.share_static
SHARE_STATIC: tuple[ShareStatic, ...] = ("auto", "true", "false")
