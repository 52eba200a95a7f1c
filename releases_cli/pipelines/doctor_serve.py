"""`releases doctor` in blue-green mode: nginx includes the generated include where it must
(the http block of serve.nginx_config), the serve state is readable, and releases.toml sets
nothing that this mode ignores ([restart] and [health] belong to reload mode)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from releases_cli import config
from releases_cli.config.sections import HealthConfig, RestartConfig
from releases_cli.core.errors import InvalidInput
from releases_cli.core.layout import DeployRoot
from releases_cli.pipelines.doctor import Finding, _ok, _problem

if TYPE_CHECKING:
    from releases_cli.pipelines.bgapps import Serving

IGNORED = {
    "restart": "each release runs as its own PM2 app, started from serve.start",
    "health": "serve.health_path is checked on the new release's own port before the flip",
}


def check_serve(root: DeployRoot) -> tuple[list[Finding], str | None]:
    """The blue-green findings, and the PM2 name prefix of this root's apps (None in reload
    mode, or when releases.toml is invalid: check_config reports that)."""
    from releases_cli.nextjs import servestate
    from releases_cli.nextjs.nginxconf import placement
    from releases_cli.pipelines.bgapps import serving

    try:
        cfg = config.load(root)
    except InvalidInput:
        return [], None
    if not cfg.serve.blue_green:
        return [], None
    sv = serving(root, cfg.serve)
    findings = []
    misplaced = placement(sv.nginx.main_config, sv.nginx.include)
    if misplaced is None:
        findings.append(_ok("nginx", f"{sv.nginx.main_config} includes {sv.nginx.include}"))
    else:
        findings.append(_problem("nginx", misplaced.problem, misplaced.fix))
    ignored = [
        name
        for name, value, default in (
            ("restart", cfg.restart, RestartConfig()),
            ("health", cfg.health, HealthConfig()),
        )
        if value != default
    ]
    findings += [_ignored(root, name) for name in ignored]
    state = servestate.read_state(root)
    if state.damaged:
        findings.append(
            _problem(
                "serve",
                "the serve state .releases/serve/state.json is unreadable",
                "move it away and run `releases reap` (then `pm2 ls` to check the apps)",
            )
        )
    elif state.live is not None:
        findings.append(_live_app(sv, state.live))
    return findings, f"{sv.pm2.app}-"


def _live_app(sv: Serving, live: str) -> Finding:
    """The live release's app runs in PM2 (after a reboot without `releases up` it does not,
    and nginx answers 502)."""
    from releases_cli.nextjs import pm2

    name = sv.pm2.name(live)
    fix = f"run `releases up --root {sv.root.path}`, and install its boot hook (--print-boot-hook)"
    if not pm2.daemon_running():  # asking a stopped PM2 would start its daemon
        problem = f"PM2 is not running, so the live release's app {name} is not either"
        return _problem("serve", problem, fix)
    running = pm2.jlist(sv.pm2)
    if running is None:
        return _problem("serve", f"cannot ask PM2 whether {name} runs (pm2 jlist failed)", fix)
    app = running.get(name)
    if app is None or app.online == 0:
        state = "is not in PM2" if app is None else f"is {app.status} in PM2"
        return _problem("serve", f"the live release's app {name} {state}: nginx cannot serve", fix)
    return _ok("serve", f"the live release's app {name} is online in PM2")


def _ignored(root: DeployRoot, section: str) -> Finding:
    return _problem(
        "config",
        f"[{section}] in {root.config_file} is ignored in blue-green mode: {IGNORED[section]}",
        f"remove [{section}] from {root.config_file} (docs/blue-green.md)",
    )
