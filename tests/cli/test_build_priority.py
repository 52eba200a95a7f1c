"""Build commands run below the live app's priority ([build] nice, io_class, cpu_limit): the
kernel's own view of each build process (/proc, ionice -p) is what the tests read, including
for a grandchild of the build command, as `npm ci` and next's workers are."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from helpers import Cli, current_id

# Written by every build below: the build shell's nice level and I/O class, and a grandchild's.
PROBE = (
    "cut -d' ' -f19 /proc/$$/stat > nice; ionice -p $$ > io; "
    "sh -c 'cut -d\" \" -f19 /proc/$$/stat > child-nice; cat /proc/$$/cgroup > cgroup'"
)


def _deploy(cli: Cli, root: Path, app: Path, build: str) -> subprocess.CompletedProcess[str]:
    (root / "releases.toml").write_text(f"[build]\ncommands = [{json.dumps(PROBE)}]\n{build}")
    return cli("deploy", "--root", str(root), "--source", str(app))


def _seen(root: Path, name: str) -> str:
    return (root / "current" / name).read_text().strip()


def test_builds_run_niced_at_the_lowest_best_effort_io_level_by_default(
    cli: Cli, root: Path, app: Path
) -> None:
    result = _deploy(cli, root, app, "")
    assert result.returncode == 0, result.stderr
    ours = os.nice(0)
    assert int(_seen(root, "nice")) == min(ours + 10, 19)
    assert int(_seen(root, "child-nice")) == min(ours + 10, 19), "not inherited by children"
    assert _seen(root, "io") == "best-effort: prio 7"


def test_idle_io_class_and_a_chosen_nice_level(cli: Cli, root: Path, app: Path) -> None:
    result = _deploy(cli, root, app, 'nice = 19\nio_class = "idle"\n')
    assert result.returncode == 0, result.stderr
    assert int(_seen(root, "nice")) == 19
    assert _seen(root, "io") == "idle"


def test_nice_0_and_io_class_none_leave_the_build_as_the_caller(
    cli: Cli, root: Path, app: Path
) -> None:
    ours = subprocess.run(
        ["ionice", "-p", str(os.getpid())], capture_output=True, text=True, check=True
    )
    result = _deploy(cli, root, app, 'nice = 0\nio_class = "none"\n')
    assert result.returncode == 0, result.stderr
    assert int(_seen(root, "nice")) == os.nice(0)
    assert _seen(root, "io") == ours.stdout.strip()


def test_cpu_limit_is_a_systemd_scope_or_a_warning_never_a_failed_deploy(
    cli: Cli, root: Path, app: Path
) -> None:
    """Where systemd runs (PID 1), the build runs in a transient scope; where it does not (a
    container, this CI), the deploy goes on without a quota and says why, and doctor reports it."""
    result = _deploy(cli, root, app, 'cpu_limit = "50%"\n')
    assert result.returncode == 0, result.stderr
    assert current_id(root)
    if os.path.isdir("/run/systemd/system"):
        assert ".scope" in _seen(root, "cgroup")
        return
    assert "warning: build.cpu_limit = '50%' not applied: systemd is not running" in result.stderr
    doctor = cli("doctor", "--root", str(root), "--json")
    assert doctor.returncode == 10
    (finding,) = [
        f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "build priority"
    ]
    assert not finding["ok"]
    assert "cpu_limit" in finding["message"] and finding["fix"]


def test_doctor_says_what_priority_builds_get(cli: Cli, root: Path) -> None:
    (root / "releases.toml").write_text('[build]\nnice = 5\nio_class = "idle"\n')
    doctor = cli("doctor", "--root", str(root))
    assert "build commands run at nice +5, I/O idle class, no CPU quota" in doctor.stdout


def test_bad_priority_settings_are_refused_with_their_line(cli: Cli, root: Path, app: Path) -> None:
    for setting, says in (
        ("nice = 20", "build.nice must be a nice level from 0 to 19, got 20"),
        ('io_class = "low"', "build.io_class must be one of best-effort, idle, none"),
        ('cpu_limit = "half"', 'build.cpu_limit must be "" or a CPU share like "50%"'),
    ):
        (root / "releases.toml").write_text(f"[build]\n{setting}\n")
        result = cli("deploy", "--root", str(root), "--source", str(app))
        assert result.returncode == 3, result.stderr  # invalid configuration
        assert says in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
