"""Which serving strategy a deploy root uses: `[serve] mode` of releases.toml names it.

Adding a mode: a class implementing serving.strategy.Strategy, its name in config (ServeMode)
and one entry in `_MODES`. The pipelines only ever see the Strategy interface.
"""

from __future__ import annotations

from collections.abc import Callable

from releases_cli.config import Config, HealthConfig, RestartConfig
from releases_cli.serving.strategy import Strategy


def _reload(cfg: Config) -> Strategy:
    from releases_cli.serving.reload import Reload

    return Reload(
        restart=cfg.restart if cfg.restart.command else None,
        health=cfg.health if cfg.health.url else None,
        app_env=cfg.serve.env,
        pm2=cfg.serve.pm2,
        checks=cfg.hooks.check,
        check_timeout=cfg.hooks.timeout,
    )


def _blue_green(cfg: Config) -> Strategy:
    # Imported when chosen: nginx, PM2 and the HTTP client are not every command's start-up.
    from releases_cli.serving.bgstrategy import BlueGreen

    # releases runs the apps itself and checks each on its own port: [restart] and [health]
    # are not used (doctor says so when they are set).
    ignored = tuple(
        name
        for name, value, default in (
            ("restart", cfg.restart, RestartConfig()),
            ("health", cfg.health, HealthConfig()),
        )
        if value != default
    )
    return BlueGreen(cfg.serve, ignored)


_MODES: dict[str, Callable[[Config], Strategy]] = {"reload": _reload, "blue-green": _blue_green}


def for_config(cfg: Config) -> Strategy:
    """The strategy of the effective config ([serve] mode, [restart], [health], [serve])."""
    return _MODES[cfg.serve.mode](cfg)
