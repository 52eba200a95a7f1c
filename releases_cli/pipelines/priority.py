"""Build commands run below the live app: a nice level, an I/O class, optionally a CPU quota.

A build on the serving machine shares the cores and the disk with the live app. Niced, the
build gets the CPU only when the app does not want it; in the lowest best-effort I/O level (or
the idle class) it waits for the app's reads under I/O schedulers that honour classes (BFQ;
`none` and `mq-deadline` ignore them). Both are inherited by everything the build starts
(`npm ci`, next's workers). The wrappers are the standard nice(1), ionice(1) and systemd-run(1)
(a transient scope with CPUQuota); one that is missing is skipped and said so, never fatal.
"""

from __future__ import annotations

import os
import shutil
from typing import NamedTuple

from releases_cli.config import BuildConfig

# -t: where the kernel or a sandbox refuses the I/O class, run the build without it.
_IONICE_ARGS = {"best-effort": ("-t", "-c", "2", "-n", "7"), "idle": ("-t", "-c", "3")}


class Priority(NamedTuple):
    prefix: tuple[str, ...]  # argv put before `/bin/sh -c COMMAND`
    skipped: tuple[str, ...]  # what could not be applied here, one line each


def build_priority(build: BuildConfig) -> Priority:
    """The wrappers for `build`'s priority settings that this system has."""
    prefix: list[str] = []
    skipped: list[str] = []
    if build.cpu_limit:
        scope, why = _cpu_scope(build.cpu_limit)
        prefix += scope
        if why:
            skipped.append(f"build.cpu_limit = {build.cpu_limit!r} not applied: {why}")
    if build.nice:
        tool = shutil.which("nice")
        if tool:
            prefix += [tool, "-n", str(build.nice)]
        else:
            skipped.append("build.nice not applied: nice(1) is not installed (coreutils)")
    if build.io_class != "none":
        tool = shutil.which("ionice")
        if tool:
            prefix += [tool, *_IONICE_ARGS[build.io_class]]
        else:
            skipped.append("build.io_class not applied: ionice(1) is not installed (util-linux)")
    return Priority(tuple(prefix), tuple(skipped))


def describe(build: BuildConfig) -> str:
    """One line for `doctor`: the priority builds get."""
    nice = f"nice +{build.nice}" if build.nice else "normal CPU priority"
    io = {"best-effort": "I/O best-effort level 7", "idle": "I/O idle class"}.get(
        build.io_class, "normal I/O priority"
    )
    cpu = f"CPU quota {build.cpu_limit}" if build.cpu_limit else "no CPU quota"
    return f"build commands run at {nice}, {io}, {cpu}"


def _cpu_scope(quota: str) -> tuple[list[str], str]:
    """systemd-run's transient scope with CPUQuota, or ([], why not) where systemd is not PID 1
    or (not root) this user has no systemd instance (`loginctl enable-linger USER` starts one)."""
    tool = shutil.which("systemd-run")
    if tool is None:
        return [], "systemd-run is not installed"
    if not os.path.isdir("/run/systemd/system"):
        return [], "systemd is not running on this system (no cgroup scopes)"
    scope = [tool, "--scope", "--quiet", "--collect", "-p", f"CPUQuota={quota}"]
    if os.geteuid() == 0:
        return scope, ""
    runtime = f"/run/user/{os.getuid()}"
    if not os.path.exists(f"{runtime}/systemd/private"):
        return [], "this user has no systemd instance (run: loginctl enable-linger $(id -un))"
    # From cron or `sudo -u`, XDG_RUNTIME_DIR is unset and systemd-run --user finds no bus.
    return ["env", f"XDG_RUNTIME_DIR={runtime}", tool, "--user", *scope[1:]], ""
