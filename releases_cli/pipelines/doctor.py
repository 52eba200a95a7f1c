"""`releases doctor`: read-only checks of a deploy root and of the PM2 apps that serve it.

Each check returns findings; a problem always comes with the command or edit that fixes it.
Nothing here changes anything or takes the lock, and PM2 is only asked when its daemon is
already running (`pm2 jlist` would otherwise start one).
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releases_cli import config
from releases_cli.core import cleaner
from releases_cli.core.erase import escaped
from releases_cli.core.errors import InvalidInput
from releases_cli.core.events import read_history
from releases_cli.core.finding import Finding
from releases_cli.core.finding import ok as _ok
from releases_cli.core.finding import problem as _problem
from releases_cli.core.ids import is_valid_id, sort_key
from releases_cli.core.layout import DeployRoot, read_current
from releases_cli.core.meta import read_meta
from releases_cli.core.state import awaiting_switch
from releases_cli.core.statedir import layout_problems, write_leftovers
from releases_cli.core.units import human_size
from releases_cli.pipelines.priority import build_priority
from releases_cli.pipelines.priority import describe as describe_priority
from releases_cli.serving.pm2 import all_apps
from releases_cli.serving.pm2 import daemon_running as pm2_daemon_running

PM2_TIMEOUT = 30.0
MIN_FREE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class DoctorReport:
    root: Path
    findings: tuple[Finding, ...]

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.ok)


def check_layout(root: DeployRoot) -> list[Finding]:
    if not root.path.is_dir():
        return [_problem("layout", f"{root.path} is not a directory", "check --root")]
    missing = [p for p in (root.releases, root.state) if not p.is_dir()]
    if missing:
        names = ", ".join(p.name + "/" for p in missing)
        return [
            _problem(
                "layout",
                f"{root.path} is not a deploy root (missing {names})",
                f"releases init --root {root.path}",
            )
        ]
    return [_ok("layout", "releases/ and .releases/ present")]


def check_permissions(root: DeployRoot) -> list[Finding]:
    paths = (root.path, root.releases, root.state, root.meta_dir, root.logs)
    denied = [p for p in paths if p.exists() and not os.access(p, os.W_OK | os.X_OK)]
    if denied:
        names = " ".join(map(str, denied))
        return [
            _problem(
                "permissions",
                f"not writable by this user: {names}",
                f"run releases as the deploy user, or: chown -R $(id -un) {names}",
            )
        ]
    return [_ok("permissions", "deploy root writable by this user")]


def _no_current(root: DeployRoot, complete: list[str], switch: str) -> Finding:
    """No `current`: normal before the first switch, even with releases staged for it."""
    staged = awaiting_switch(complete, None, read_history(root).events)
    if not complete:
        return _ok("current", "no release deployed yet")
    if set(complete) <= staged:
        waiting = ", ".join(sorted(staged, key=sort_key))
        return _ok("current", f"no release live yet; staged for `releases switch`: {waiting}")
    return _problem("current", "no `current` link, but complete releases exist", switch)


def check_current(root: DeployRoot) -> list[Finding]:
    link = read_current(root)
    complete = [r for r in root.release_ids_on_disk() if _is_complete(root, r)]
    switch = f"releases rollback --root {root.path} --to {complete[-1]}" if complete else ""
    if not link.exists:
        if root.is_pack_work():
            return [_ok("current", "a `releases pack` work directory: nothing goes live here")]
        return [_no_current(root, complete, switch)]
    if not link.is_symlink:
        return [
            _problem(
                "current",
                f"{root.current} is a real directory or file, not a symlink",
                f"mv {root.current} {root.path}/current.old, then deploy (or switch to a release)",
            )
        ]
    problem = _link_problem(root, link.target, link.release_id)
    if problem is not None:
        return [_problem("current", problem, switch or f"releases deploy --root {root.path}")]
    return [_ok("current", f"current -> releases/{link.release_id} (complete)")]


def _link_problem(root: DeployRoot, target: str | None, release_id: str | None) -> str | None:
    if release_id is None:
        return f"`current` points at {target}, not at releases/<id>"
    if not root.release(release_id).is_dir():
        return f"`current` is dangling ({target})"
    if not _is_complete(root, release_id):
        return f"`current` points at {release_id}, which is not a complete release"
    return None


def _is_complete(root: DeployRoot, release_id: str) -> bool:
    meta = read_meta(root, release_id)
    return meta is not None and meta.complete


def check_config(root: DeployRoot) -> list[Finding]:
    """releases.toml is read and checked exactly as deploy, rollback and switch read it."""
    try:
        config.load(root)
    except InvalidInput as error:
        return [
            _problem(
                "config",
                error.message,
                "correct releases.toml (docs/configuration.md lists every key); until then "
                "deploy, switch, rollback and prune refuse to run",
            )
        ]
    if not os.path.lexists(root.config_file):
        return [_ok("config", "no releases.toml: defaults and flags apply")]
    return [_ok("config", f"{root.config_file} is valid")]


def check_build_priority(root: DeployRoot) -> list[Finding]:
    """What priority build commands get here ([build] nice, io_class, cpu_limit)."""
    try:
        build = config.load(root).build
    except InvalidInput:
        return []  # check_config reports it
    skipped = build_priority(build).skipped
    if skipped:
        return [
            _problem(
                "build priority",
                "; ".join(skipped),
                "install the missing tool, or set the key to its default in releases.toml "
                "(docs/configuration.md, [build])",
            )
        ]
    return [_ok("build priority", describe_priority(build))]


def check_temp_links(root: DeployRoot) -> list[Finding]:
    found = root.temp_links()
    what = "leftover temp link(s) of an interrupted switch"
    return [_leftovers("temp links", what, found, "no leftover temp links")]


def check_temp_files(root: DeployRoot) -> list[Finding]:
    found = write_leftovers(root.state)
    what = "temp file(s) of a write killed before its rename (never read)"
    return [_leftovers("temp files", what, found, "no temp files of interrupted writes")]


def _leftovers(check: str, what: str, found: list[Path], none: str) -> Finding:
    """What a crash left that the next state-changing command removes."""
    if not found:
        return _ok(check, none)
    names = " ".join(str(p) for p in found)
    return _problem(
        check, f"{what}: {names}", f"the next deploy/rollback/prune removes them, or: rm {names}"
    )


def check_trash(root: DeployRoot) -> list[Finding]:
    """Pruned trees no cleaner is deleting: a crash left them (the next state-changing command
    deletes them) or their deletion had to leave them (another user's files, a mount point)."""
    try:
        left = cleaner.unheld(root.trash)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            return []  # not a real directory: check `state` reports it
        fix = f"ls -la {shlex.quote(str(root.state))}"
        return [_problem("trash", f"cannot read {root.trash}: {error.strerror}", fix)]
    if not left:
        return [_ok("trash", "no pruned tree left in .releases/trash")]
    names = ", ".join(cleaner.shown(name) for name in left[:_SHOWN])
    more = f" and {len(left) - _SHOWN} more" if len(left) > _SHOWN else ""
    message = f"{len(left)} pruned tree(s) in .releases/trash no cleaner is deleting: {names}{more}"
    paths = " ".join(shlex.quote(str(root.trash / escaped(name))) for name in left)
    fix = f"releases prune --root {shlex.quote(str(root.path))} (it says what blocks one it"
    fix += f" cannot delete; then as a user who may: rm -rf --one-file-system -- {paths})"
    return [_problem("trash", message, fix)]


_SHOWN = 3  # trash entries a finding names


def disk_finding(free: int, largest_release: int) -> Finding:
    """Pure: is there room for the next release? Asks for twice the largest release (a build
    writes caches and temporary files) and never less than MIN_FREE_BYTES."""
    need = max(2 * largest_release, MIN_FREE_BYTES)
    if free < need:
        return _problem(
            "disk",
            f"{human_size(free)} free, a new release needs about {human_size(need)}",
            "free space, or keep fewer releases: releases prune --keep 2",
        )
    return _ok("disk", f"{human_size(free)} free (a release needs about {human_size(need)})")


def check_disk(root: DeployRoot) -> list[Finding]:
    metas = [read_meta(root, r) for r in root.release_ids_on_disk()]
    largest = max((m.size or 0 for m in metas if m is not None), default=0)
    return [disk_finding(shutil.disk_usage(root.path).free, largest)]


def check_state(root: DeployRoot) -> list[Finding]:
    """.releases/ as the tool made it: no planted links, every entry of the right kind."""
    problems = layout_problems(root.state)
    if not problems:
        return [_ok("state", ".releases/ holds no links and no entry of the wrong kind")]
    return [_problem("state", p.message, p.fix) for p in problems]


def pm2_findings(
    apps: Iterable[dict[str, Any]], root: DeployRoot, own_prefix: str | None = None
) -> list[Finding]:
    """Pure: PM2 apps (from `pm2 jlist`) inside the deploy root must use the `current` path,
    except blue-green apps (`own_prefix` + id, with our marker), which run from their release
    by design."""
    roots = {os.path.normpath(root.path), os.path.realpath(root.path)}
    findings = []
    for app in apps:
        env = app.get("pm2_env") or {}
        name = str(app.get("name") or env.get("name") or "?")
        if own_prefix is not None and _ours(name, env, own_prefix, root):
            findings.append(_ok("pm2", f"PM2 app {name!r} is a blue-green app of this root"))
            continue
        paths = {str(env[k]) for k in ("pm_cwd", "cwd", "pm_exec_path") if env.get(k)}
        inside = [p for p in paths if any(_under(p, r) for r in roots)]
        if not inside:
            continue
        resolved = sorted(p for p in inside if _release_of(p, roots))
        if resolved:
            findings.append(_pm2_problem(name, resolved, root))
        else:
            findings.append(_ok("pm2", f"PM2 app {name!r} uses the `current` path"))
    return findings


def _ours(name: str, env: dict[str, Any], own_prefix: str, root: DeployRoot) -> bool:
    """Named `<app>-<id>` and started by releases for this root (serving/pm2.py's rule)."""
    from releases_cli.serving.pm2 import ours

    rest = name.removeprefix(own_prefix)
    return rest != name and is_valid_id(rest) and ours(env, os.path.realpath(root.path), rest)


def _under(path: str, root: str) -> bool:
    path = os.path.normpath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")


def _release_of(path: str, roots: set[str]) -> str | None:
    for root in roots:
        if _under(path, os.path.join(root, "releases")):
            parts = Path(os.path.normpath(path)).relative_to(root).parts
            if len(parts) >= 2 and is_valid_id(parts[1]):
                return parts[1]
    return None


def _pm2_problem(name: str, paths: list[str], root: DeployRoot) -> Finding:
    return _problem(
        "pm2",
        f"PM2 app {name!r} runs from a resolved release path ({', '.join(paths)}): after a "
        "switch and `pm2 reload` it keeps serving that release, and breaks once it is pruned",
        f"in ecosystem.config.js set cwd: '{root.current}' (script relative to it), then "
        f"`pm2 delete {name} && pm2 start ecosystem.config.js && pm2 save` "
        "(a reload keeps the old cwd)",
    )


def check_pm2(root: DeployRoot, own_prefix: str | None = None) -> list[Finding]:
    pm2 = shutil.which("pm2")
    if pm2 is None:
        return [] if "PM2_HOME" not in os.environ else [_ok("pm2", "PM2_HOME set, no pm2 on PATH")]
    if not pm2_daemon_running():
        return [_ok("pm2", "PM2 daemon not running: no apps to check")]
    try:
        apps = all_apps(shlex.quote(pm2), PM2_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired, ValueError) as error:
        return [_problem("pm2", f"could not read `pm2 jlist`: {error}", "check `pm2 jlist`")]
    found = pm2_findings(apps, root, own_prefix)
    return found or [_ok("pm2", "no PM2 app runs inside the deploy root")]


def diagnose(root: DeployRoot) -> DoctorReport:
    findings = check_layout(root)
    if findings[0].ok:
        checks = (
            check_permissions,
            check_state,
            check_current,
            check_temp_links,
            check_temp_files,
            check_trash,
            check_disk,
        )
        for check in checks:
            findings += check(root)
    own_prefix = None
    if root.path.is_dir():
        findings += check_config(root)
        findings += check_build_priority(root)
        serve_findings, own_prefix = check_serve(root)
        findings += serve_findings
    findings += check_pm2(root, own_prefix)
    return DoctorReport(root.path, tuple(findings))


def check_serve(root: DeployRoot) -> tuple[list[Finding], str | None]:
    """The serving strategy's own findings, and the PM2 name prefix of the apps it runs for
    this root (None when it runs none, or when releases.toml is invalid: check_config says)."""
    from releases_cli.serving.strategies import for_config

    try:
        cfg = config.load(root)
    except InvalidInput:
        return [], None
    return for_config(cfg).diagnose(root)
