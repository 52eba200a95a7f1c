"""The serving commands' pipelines: `nginx` (blue-green only: the server block and a first
include), and `preview` and `reap`, which the root's serving strategy carries out (reload mode
refuses both with the fix)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from releases_cli import config as config_mod
from releases_cli.core.clock import utc_now
from releases_cli.core.errors import InvalidInput

if TYPE_CHECKING:
    from pathlib import Path

    from releases_cli.core.layout import DeployRoot
    from releases_cli.core.report import Report
    from releases_cli.serving.bgapps import Serving
    from releases_cli.serving.strategy import Strategy


def blue_green(root: DeployRoot, command: str) -> Serving:
    """The root's blue-green setup; InvalidInput (naming `command`) in reload mode."""
    from releases_cli.serving.bgapps import serving

    root.require_initialized()
    cfg = config_mod.load(root)
    if not cfg.serve.blue_green:
        raise InvalidInput(
            f'`releases {command}` needs [serve] mode = "blue-green" in {root.config_file}'
        )
    return serving(root, cfg.serve)


class NginxSetup(NamedTuple):
    block: str  # the server block to add to nginx's configuration
    wrote: Path | None  # the first include, when there was none yet


def nginx_setup(root: DeployRoot) -> NginxSetup:
    """`releases nginx`: the server block, and a first include (nothing routed) when there is
    none yet, so that `nginx -t` passes before the first deploy."""
    from releases_cli.core.fs import DIR_MODE, atomic_write
    from releases_cli.serving.nginx import render_include, snippet

    sv = blue_green(root, "nginx")
    block = snippet(sv.nginx, root.path)  # a path nginx cannot name: refused first
    if sv.nginx.include.exists():
        return NginxSetup(block, None)
    sv.nginx.include.parent.mkdir(DIR_MODE, parents=True, exist_ok=True)
    atomic_write(sv.nginx.include, render_include(sv.nginx.app, None, {}).encode())
    return NginxSetup(block, sv.nginx.include)


def preview(root: DeployRoot, release_id: str, wait: float, report: Report) -> int:
    """`releases preview`: start a complete release's app (the live one too) on its own port,
    under the lock; the port."""
    from releases_cli.core.ids import validate_id
    from releases_cli.core.recovery import exclusive

    validate_id(release_id)
    strategy = _strategy(root, "preview")
    with exclusive(root, wait, utc_now, report) as recovered:
        snap = recovered.snapshot
        if release_id != snap.current_id:  # the live one may be previewed on its own port
            snap.target(release_id, "preview")
        return strategy.preview(root, release_id, utc_now, report)


def reap(root: DeployRoot, wait: float, report: Report) -> list[str]:
    """`releases reap`: the ids of the apps stopped."""
    return _strategy(root, "reap").reap(root, wait, utc_now, report)


def _strategy(root: DeployRoot, command: str) -> Strategy:
    """The root's serving strategy, having refused `command` if the mode has no use for it."""
    from releases_cli.serving.strategies import for_config

    root.require_initialized()
    strategy = for_config(config_mod.load(root))
    strategy.require(root, command)
    return strategy
