"""What the reading commands show (list, status, history, shell completion), read without the
lock (design.md invariant 4): the snapshot with the processes using each release and the
problems worth a warning, the freeze, the blue-green apps, the history, the release ids.

Kept light: `status` and `list` must not load the build side (tests/cli/test_perf_paths.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from releases_cli.core.inuse import release_users
from releases_cli.core.state import Snapshot, snapshot
from releases_cli.core.statedir import layout_problems
from releases_cli.pipelines.serveview import ServeApp, canary_view, config_of, serve_apps

if TYPE_CHECKING:
    from datetime import datetime

    from releases_cli.core.events import History
    from releases_cli.core.freeze import FreezeState
    from releases_cli.core.layout import DeployRoot
    from releases_cli.core.meta import ReleaseMeta
    from releases_cli.pipelines.serveview import CanaryView


class Overview(NamedTuple):
    """The deploy root as `list` and `status` show it."""

    snap: Snapshot
    in_use: dict[str, list[int]]  # release id -> pids using it (cwd or open files)
    frozen: FreezeState | None
    serving: list[ServeApp]
    warnings: list[str]
    canary: CanaryView | None = None  # `status`: the canary running (blue-green)


def listing(root: DeployRoot, now: datetime) -> Overview:
    """Everything `list` shows (the freeze is `status`'s)."""
    snap = snapshot(root.require_initialized())
    in_use = release_users(root.releases)
    apps = serve_apps(root, now, config_of(root))
    return Overview(snap, in_use, None, apps, warnings(snap))


def live_view(root: DeployRoot, now: datetime) -> Overview:
    """Everything `status` shows: the users are looked for only when something is live."""
    from releases_cli.core.freeze import read_freeze

    snap = snapshot(root)
    frozen = read_freeze(root)
    live = snap.get(snap.current_id) if snap.current_id else None
    in_use = release_users(root.releases) if live else {}
    cfg = config_of(root)  # read once for the apps and the canary
    apps = serve_apps(root, now, cfg)
    return Overview(snap, in_use, frozen, apps, warnings(snap), canary_view(root, cfg))


def warnings(snap: Snapshot) -> list[str]:
    """Problems worth telling whoever reads the list (never fatal for reading)."""
    found = [str(problem) for problem in layout_problems(snap.root.state)]
    link = snap.current
    if link.exists and not link.is_symlink:
        doctor = snap.root.command("doctor")
        found.append(f"current is a real directory, not a symlink (run `{doctor}`)")
    elif link.is_symlink and (link.release_id is None or snap.get(link.release_id) is None):
        found.append(f"current points at {link.target!r}, which is not a kept release")
    if snap.history.corrupt_lines:
        found.append(
            f"history has {len(snap.history.corrupt_lines)} corrupt line(s), skipped: "
            f"{list(snap.history.corrupt_lines[:5])}"
        )
    damaged = [r.id for r in snap.releases if r.meta_problem is not None]
    if damaged:
        found.append(f"meta file unreadable (kept, never pruned automatically): {damaged[:5]}")
    strays = snap.root.strays_in_releases()
    if strays:
        found.append(f"releases/ holds entries that are not releases (ignored): {strays[:5]}")
    return found


def history(root: DeployRoot) -> History:
    """The whole history of an initialized root (damaged lines skipped and warned about)."""
    from releases_cli.core.events import read_history

    return read_history(root.require_initialized())


class Candidate(NamedTuple):
    """A release id shell completion may offer."""

    id: str
    live: bool
    meta: ReleaseMeta | None  # None: no readable meta file


def candidates(root: DeployRoot, prefix: str) -> list[Candidate]:
    """The releases on disk whose id starts with prefix, newest first. Only releases/ and the
    small meta files are read: this runs on every <TAB> (no lock, no history, no git)."""
    from releases_cli.core.layout import read_current
    from releases_cli.core.meta import read_meta

    current = read_current(root).release_id
    return [
        Candidate(release_id, release_id == current, read_meta(root, release_id))
        for release_id in reversed(root.release_ids_on_disk())
        if release_id.startswith(prefix)
    ]
