"""The apps `status` and `list` show (blue-green: each app in the serve state with its role,
port, PM2 status and memory and when it stops; nothing in reload mode): the root's serving
strategy says."""

from __future__ import annotations

from typing import TYPE_CHECKING

from releases_cli import config as config_mod
from releases_cli.core.errors import InvalidInput
from releases_cli.serving.strategy import ServeApp

if TYPE_CHECKING:
    from datetime import datetime

    from releases_cli.core.layout import DeployRoot
    from releases_cli.pipelines.canary import View as CanaryView

__all__ = ["CanaryView", "ServeApp", "canary_view", "serve_apps"]


def serve_apps(root: DeployRoot, now: datetime) -> list[ServeApp]:
    """Every app the strategy runs (none before `init`, or with a config that does not load:
    what is live is still shown, and `doctor` reports the config)."""
    from releases_cli.serving.strategies import for_config

    if not root.config_file.is_file():
        return []
    try:
        cfg = config_mod.load(root)
    except InvalidInput:
        return []
    return for_config(cfg).apps(root, now)


def canary_view(root: DeployRoot) -> CanaryView | None:
    """The running canary with its live figures (blue-green), or None; the canary's pipeline
    (and the analysis modules) is loaded only when one runs."""
    from releases_cli.serving.servestate import read_state

    if not root.config_file.is_file() or read_state(root).canary is None:
        return None
    try:
        cfg = config_mod.load(root)
    except InvalidInput:
        return None
    from releases_cli.pipelines.canary import view

    return view(root, cfg)
