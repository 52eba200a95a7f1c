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

    from releases_cli.config import Config
    from releases_cli.core.layout import DeployRoot
    from releases_cli.pipelines.canary import View as CanaryView

__all__ = ["CanaryView", "ServeApp", "canary_view", "config_of", "serve_apps"]


def config_of(root: DeployRoot) -> Config | None:
    """releases.toml, or None before `init` or when it does not load (what is live is still
    shown, and `doctor` reports the config)."""
    if not root.config_file.is_file():
        return None
    try:
        return config_mod.load(root)
    except InvalidInput:
        return None


def serve_apps(root: DeployRoot, now: datetime, cfg: Config | None) -> list[ServeApp]:
    """Every app the strategy of `cfg` (config_of) runs; none without a config."""
    from releases_cli.serving.strategies import for_config

    return [] if cfg is None else for_config(cfg).apps(root, now)


def canary_view(root: DeployRoot, cfg: Config | None) -> CanaryView | None:
    """The running canary with its live figures (blue-green), or None; the canary's pipeline
    (and the analysis modules) is loaded only when one runs."""
    from releases_cli.serving.servestate import read_state

    if cfg is None or read_state(root).canary is None:
        return None
    from releases_cli.pipelines.canary import view

    return view(root, cfg)
