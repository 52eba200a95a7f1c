"""The detached canary watcher (`deploy --canary ... --detach`): started as core/cleaner.py
starts the prune cleaner (a session of its own, cwd "/", stdin and stdout on /dev/null, stderr
on `.releases/serve/watcher.log`), inheriting the watcher flock so the canary never has a
moment without an owner. It watches, promotes or aborts as the deploy would have, and sends
the [notify] webhooks for what it recorded.

Run as `python -m releases_cli.pipelines.watcher ROOT RELEASE_ID FD`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from releases_cli.core.compat import run_module_argv
from releases_cli.core.layout import DeployRoot
from releases_cli.serving.servestate import SERVE_DIR, ensure_serve_dir
from releases_cli.serving.traffic import Cursor

LOG_NAME = "watcher.log"


def log_path(root: DeployRoot) -> Path:
    return root.state / SERVE_DIR / LOG_NAME


def detach(root: DeployRoot, release_id: str, fd: int, watch: float, keep: int) -> int:
    """Start the canary's watcher with the flock's descriptor `fd` (closed here once it has
    it; `watch`: seconds of watch after its promotion; `keep`: the deploy's, for the prune at
    its promotion); its pid. OSError when it cannot be started (the caller still holds the
    flock then)."""
    pid = _start(root, [str(root.path), release_id, str(fd), repr(watch), str(keep)], [fd])
    os.close(fd)
    return pid


def detach_watch(
    root: DeployRoot, release_id: str, previous: str | None, seconds: float, since: Cursor
) -> int:
    """Start a watcher for the watch after a flip to `release_id`; its pid."""
    where = [str(since.get("inode", 0)), str(since.get("offset", 0))]
    args = [str(root.path), release_id, "-", previous or "-", repr(seconds), *where]
    return _start(root, args, [])


def _start(root: DeployRoot, args: list[str], fds: list[int]) -> int:
    ensure_serve_dir(root)
    package_parent = str(Path(__file__).resolve().parent.parent.parent)
    pythonpath = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    argv = [sys.executable, *run_module_argv(__name__), *args]
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    log = os.open(log_path(root), flags, 0o600)
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=fds,
            start_new_session=True,
            cwd="/",
            env={**os.environ, "PYTHONPATH": pythonpath},
        )
    finally:
        os.close(log)
    return process.pid


def main(argv: list[str]) -> int:
    """The watcher: ROOT RELEASE_ID FD WATCH KEEP (a canary; FD: the flock, inherited already
    held; WATCH: seconds of watch after its promotion; KEEP: the deploy's), or ROOT
    RELEASE_ID - PREVIOUS SECONDS INODE OFFSET (the watch after a flip)."""
    from releases_cli import config as config_mod
    from releases_cli.core.clock import utc_now
    from releases_cli.core.errors import ReleasesError
    from releases_cli.pipelines import canary, watch
    from releases_cli.pipelines.notify import notifying

    path, release_id, fd, *flip = argv
    root = DeployRoot(Path(path))
    if fd != "-":
        os.set_inheritable(int(fd), False)  # the flock stays with this process alone

    def say(line: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        print(f"{stamp} watcher pid {os.getpid()}: {line}", flush=True)

    say(f"watching {'the canary ' if fd != '-' else ''}{release_id}")
    try:
        cfg = config_mod.load(root)
        settings = canary.settings_of(cfg)
        with notifying(root, cfg.notify, dict(os.environ), say) as outcome:
            if fd != "-":
                # the deploy's --watch and --keep, not only releases.toml's
                settings = settings._replace(watch=float(flip[0]), keep=int(flip[1]))
                ended = canary.watch(root, settings, release_id, say, say)
                outcome.summary = f"canary {ended.id}: {ended.outcome}"
            else:
                previous, seconds, inode, offset = flip
                since: Cursor = {"inode": int(inode), "offset": int(offset)}
                before = None if previous == "-" else previous
                watch.watch(
                    root, settings, release_id, before, float(seconds), since, say, say, utc_now
                )
                outcome.summary = f"watch of {release_id}: passed"
        say(outcome.summary)
    except ReleasesError as error:
        say(error.message)
        return int(error.exit_code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
