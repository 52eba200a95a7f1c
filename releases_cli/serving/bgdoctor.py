"""`releases doctor` in blue-green mode: nginx includes the generated include where it must
(the http block of serve.nginx_config), the serve state is readable, the live release's app
runs, a canary has a watcher, and releases.toml sets nothing that this mode ignores
([restart] and [health] belong to reload mode)."""

from __future__ import annotations

from releases_cli.core.finding import Finding
from releases_cli.core.finding import ok as _ok
from releases_cli.core.finding import problem as _problem
from releases_cli.serving import owner, pm2, servestate
from releases_cli.serving.bgapps import Serving
from releases_cli.serving.nginxconf import placement

IGNORED = {
    "restart": "each release runs as its own PM2 app, started from serve.start",
    "health": "serve.health_path is checked on the new release's own port before the flip",
}


def diagnose(sv: Serving, ignored: tuple[str, ...]) -> list[Finding]:
    """The blue-green findings; `ignored`: the reload-mode sections releases.toml sets."""
    findings = []
    misplaced = placement(sv.nginx.main_config, sv.nginx.include)
    if misplaced is None:
        findings.append(_ok("nginx", f"{sv.nginx.main_config} includes {sv.nginx.include}"))
    else:
        findings.append(_problem("nginx", misplaced.problem, misplaced.fix))
    findings += [_ignored(sv, name) for name in ignored]
    state = servestate.read_state(sv.root)
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
    if state.canary is not None:
        findings.append(_canary(sv, state.canary))
    return findings


def _canary(sv: Serving, canary: servestate.Canary) -> Finding:
    """A canary has a watcher: without one, nobody promotes or aborts it."""
    what = f"the canary {canary.id} takes {canary.share}% of visitors (stable {canary.stable})"
    if owner.watched(sv.root):
        return _ok("canary", f"{what}; a watcher owns it")
    root = sv.root.path
    return _problem(
        "canary",
        f"{what} and no watcher owns it (it crashed, or the machine rebooted)",
        f"run `releases promote --root {root}` or `releases abort --root {root}` (the next "
        "blue-green command, or `releases reap` from its timer, aborts it)",
    )


def _live_app(sv: Serving, live: str) -> Finding:
    """The live release's app runs in PM2 (after a reboot without `releases up` it does not,
    and nginx answers 502)."""
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


def _ignored(sv: Serving, section: str) -> Finding:
    root = sv.root
    return _problem(
        "config",
        f"[{section}] in {root.config_file} is ignored in blue-green mode: {IGNORED[section]}",
        f"remove [{section}] from {root.config_file} (docs/blue-green.md)",
    )
