"""What a SIGKILL leaves behind, and who cleans it up (real processes killed at fault points).

- An atomic write killed between its write and its rename leaves `.<name>.tmp-<pid>-<hex>`: it
  is never read as state, and the next command that takes the lock removes it (only when its
  writer is gone: the pid is dead and nobody holds an flock on it).
- freeze / unfreeze / pin / unpin killed between the state change and its history line: the
  state stands, and the next command records the missing line (`recovered: true`).
- `releases pack` killed before renaming its artifact into place: the next pack to the same
  file removes that temp, never a live pack's.
- The detached cleaner's log is capped (rotated once to `cleaner.log.1`) and never opened
  through a link.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Cli, cli_env, deploy_ok, history_of, run_cli, tree_state
from hypothesis import given
from hypothesis import strategies as st

from releases_cli.core import cleaner, leftovers
from releases_cli.core.layout import DeployRoot
from releases_cli.core.prune import delete_pruned, prune_releases

KILLED = -9


def _temps(directory: Path, name: str) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.startswith(f".{name}.tmp-"))


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def _killed_write(path: Path, data: bytes) -> Path:
    """A real process SIGKILLed inside atomic_write(path) after the temp is written and fsync'd,
    before the rename (fault point mid_write); the temp it left."""
    code = (
        "import sys; from pathlib import Path; from releases_cli.core.fs import atomic_write; "
        "atomic_write(Path(sys.argv[1]), sys.argv[2].encode())"
    )
    env = cli_env({"RELEASES_FAULT": f"mid_write:{path.name}"})
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), data.decode()], env=env, check=False
    )
    assert done.returncode == KILLED
    (temp,) = _temps(path.parent, path.name)
    return temp


# 1. Temp files of atomic writes.


def test_writes_killed_before_their_rename_leave_temps_that_are_never_state_and_go(
    cli: Cli, root: Path, app: Path
) -> None:
    """A freeze, a pin (its meta), the blue-green serve state, the lock info and the reserve,
    each killed between write and rename: the temps hold complete new state, yet status is not
    frozen and the release is not pinned (temps are never read); the next state-changing
    command removes every one, naming each (the lock info's is removed by the rewrite of
    lock.info as the lock is taken); doctor lists them until then."""
    first = deploy_ok(cli, root, app)
    for _ in range(2):
        deploy_ok(cli, root, app)
    state = root / ".releases"
    fault = {"RELEASES_FAULT": "mid_write:freeze.json"}
    killed = cli("freeze", "--root", str(root), "-m", "party", env=fault)
    assert killed.returncode == KILLED
    (freeze,) = _temps(state, "freeze.json")
    assert json.loads(freeze.read_text())["message"] == "party"
    assert json.loads(cli("status", "--root", str(root), "--json").stdout)["frozen"] is None

    killed = cli("pin", first, "--root", str(root), env={"RELEASES_FAULT": "mid_write:*.json"})
    assert killed.returncode == KILLED
    assert f"recovered: removed {freeze} (a write killed before its rename)" in killed.stderr
    assert not freeze.exists()
    (meta,) = _temps(state / "meta", f"{first}.json")
    assert json.loads(meta.read_text())["pinned"] is True
    listed = json.loads(cli("list", "--root", str(root), "--json").stdout)["releases"]
    assert {r["id"]: r["pinned"] for r in listed}[first] is False and len(listed) == 3

    (state / "serve").mkdir()
    serve = _killed_write(state / "serve" / "state.json", b'{"v": 1, "live": null, "apps": {}}')
    info = _killed_write(state / "lock.info", b'{"pid": 1}')
    (state / "reserve").unlink(missing_ok=True)
    reserve = _killed_write(state / "reserve", b"0" * 4096)
    left = [meta, serve, reserve]
    doctor = json.loads(cli("doctor", "--root", str(root), "--json").stdout)
    (found,) = [f for f in doctor["findings"] if f["check"] == "temp files"]
    assert not found["ok"] and all(str(temp) in found["message"] for temp in [*left, info])

    pruned = cli("prune", "--root", str(root), "--keep", "1")
    assert pruned.returncode == 0, pruned.stderr
    for temp in left:
        assert f"recovered: removed {temp} (a write killed before its rename)" in pruned.stderr
        assert not temp.exists()
    assert not info.exists()  # taking the lock rewrote lock.info, which removed it first
    assert not (root / "releases" / first).exists()  # not pinned: the temp never counted
    again = cli("prune", "--root", str(root))
    assert again.returncode == 0 and "recovered" not in again.stderr
    doctor = json.loads(cli("doctor", "--root", str(root), "--json").stdout)
    assert [f["ok"] for f in doctor["findings"] if f["check"] == "temp files"] == [True]


def test_a_live_writers_temp_is_never_removed(cli: Cli, root: Path, app: Path) -> None:
    """Temps whose writer lives are kept by recovery: one named with a live pid, one named
    with a dead pid whose file a live process holds an flock on (a writer seen from another
    pid namespace). Once the flock is gone, the next command removes the second."""
    deploy_ok(cli, root, app)
    state = root / ".releases"
    live = state / f".freeze.json.tmp-{os.getpid()}-0123abcd"
    held = state / f".freeze.json.tmp-{_dead_pid()}-89abcdef"
    live.write_text("{}")
    held.write_text("{}")
    fd = os.open(held, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        busy = cli("prune", "--root", str(root))
        assert busy.returncode == 0, busy.stderr
        assert live.exists() and held.exists() and "recovered" not in busy.stderr
    finally:
        os.close(fd)
    after = cli("prune", "--root", str(root))
    assert f"recovered: removed {held}" in after.stderr
    assert live.exists() and not held.exists()


def test_the_next_write_of_a_file_removes_its_stale_temps(tmp_path: Path) -> None:
    """Outside .releases/ (an nginx include, a PM2 process file) nobody scans: the next atomic
    write of the same file removes what a killed write of it left, and nothing else (another
    file's stale temp, a live writer's temp, a directory with a temp's name)."""
    from releases_cli.core.fs import atomic_write

    target = tmp_path / "nginx.conf"
    stale = _killed_write(target, b"half")
    other = _killed_write(tmp_path / "other.conf", b"half")
    live = tmp_path / f".nginx.conf.tmp-{os.getpid()}-0123abcd"
    live.write_text("mine")
    odd = tmp_path / f".nginx.conf.tmp-{_dead_pid()}-0123abcd"
    odd.mkdir()
    atomic_write(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert not stale.exists() and other.exists() and live.exists() and odd.is_dir()


def test_a_stale_temp_that_cannot_be_removed_never_fails_the_write(tmp_path: Path) -> None:
    """A stale temp the next write may not remove (here immutable, `chattr +i`; in a sticky
    directory, another user's) is left where it is: the write of the file still succeeds."""
    from releases_cli.core.fs import atomic_write

    target = tmp_path / "nginx.conf"
    stale = _killed_write(target, b"half")
    subprocess.run(["chattr", "+i", str(stale)], check=True)
    try:
        atomic_write(target, b"whole")
        assert target.read_bytes() == b"whole"
        assert stale.exists()
    finally:
        subprocess.run(["chattr", "-i", str(stale)], check=True)


def test_an_nginx_change_killed_during_its_test_leaves_files_the_next_change_removes(
    tmp_path: Path,
) -> None:
    """A blue-green nginx change SIGKILLed while `nginx -t` checks its copy of the main config
    (the kill comes from the test command itself) leaves that copy beside nginx.conf and the new
    include's temp; the next change removes both, and nginx.conf and the include are intact."""
    from releases_cli.serving.nginx import Nginx, install

    etc = tmp_path / "nginx"
    etc.mkdir()
    include = tmp_path / "serve" / "nginx.conf"
    main = etc / "nginx.conf"
    config = f"http {{\n    include {include};\n}}\n"
    main.write_text(config)
    code = (
        "import sys; from pathlib import Path; "
        "from releases_cli.serving.nginx import Nginx, install; "
        "n = Nginx('app', Path(sys.argv[1]), Path(sys.argv[2]), "
        "('sh', '-c', 'kill -9 $PPID; sleep 5'), ('true',)); "
        "install(n, 'upstream a {}', lambda: None)"
    )
    killed = subprocess.run(
        [sys.executable, "-c", code, str(include), str(main)], env=cli_env(None), check=False
    )
    assert killed.returncode == KILLED
    left = sorted(p.name for p in etc.iterdir() if p.name != "nginx.conf")
    assert len(left) == 1 and left[0].startswith(".nginx.conf.tmp-"), left
    assert _temps(include.parent, include.name)
    install(Nginx("app", include, main, ("true",), ("true",)), "upstream b {}", lambda: None)
    assert sorted(p.name for p in etc.iterdir()) == ["nginx.conf"]
    assert sorted(p.name for p in include.parent.iterdir()) == ["nginx.conf"]
    assert include.read_text() == "upstream b {}"
    assert main.read_text() == config


@given(st.text(st.characters(exclude_characters="/\0"), min_size=1, max_size=40))
def test_temp_names_parse_back_to_the_file_they_replace(name: str) -> None:
    """Any file name (dots, `.tmp-` and digits in it included) gives a temp name that parses
    back to it and this pid; names that are not temp names do not parse."""
    assert leftovers.parse(leftovers.temp_name(name)) == (name, os.getpid())
    assert leftovers.parse(name) is None or name.startswith(".")
    for miss in ("x.tmp-1-0123abcd", ".x.tmp-1-0123abc", ".x.tmp-a-0123abcd", ".x.tmp--0123abcd"):
        assert leftovers.parse(miss) is None, miss
    assert leftovers.parse(".x.tmp-1-0123ABCD") is None


# 2. A crash between a state change and its history line.


@pytest.mark.parametrize(
    ("before", "command", "point", "event", "frozen"),
    [
        ([], ["freeze", "-m", "party"], "after_freeze_write", "freeze", True),
        ([], ["freeze", "-m", "party"], "torn:freeze", "freeze", True),
        ([["freeze", "-m", "party"]], ["unfreeze"], "after_unfreeze", "unfreeze", False),
    ],
)
def test_a_freeze_change_killed_before_its_line_is_recorded_by_the_next_command(
    cli: Cli,
    root: Path,
    app: Path,
    before: list[list[str]],
    command: list[str],
    point: str,
    event: str,
    frozen: bool,
) -> None:
    """The state file stands (it is what commands obey); the next state-changing command says
    the history missed it and writes the line, marked recovered; the one after writes none."""
    deploy_ok(cli, root, app)
    for args in before:
        assert cli(*args, "--root", str(root)).returncode == 0
    recorded = len(history_of(root, event, torn=True))
    killed = cli(*command, "--root", str(root), env={"RELEASES_FAULT": point})
    assert killed.returncode == KILLED
    assert len(history_of(root, event, torn=True)) == recorded  # the line is missing (or torn)
    status = json.loads(cli("status", "--root", str(root), "--json").stdout)
    assert (status["frozen"] is not None) is frozen

    nxt = cli("prune", "--root", str(root))
    assert nxt.returncode == 0, nxt.stderr
    assert "recovered: history did not record" in nxt.stderr
    line = history_of(root, event, torn=True)[-1]
    assert line["recovered"] is True and len(history_of(root, event, torn=True)) == recorded + 1
    if event == "freeze":
        assert line["message"] == "party"
    else:
        assert line["freeze_message"] == "party"
    again = cli("prune", "--root", str(root))
    assert (
        "recovered" not in again.stderr and len(history_of(root, event, torn=True)) == recorded + 1
    )


@pytest.mark.parametrize(
    ("command", "point", "event"),
    [
        ("pin", "after_pin_write", "pin"),
        ("pin", "torn:pin", "pin"),
        ("unpin", "after_pin_write", "unpin"),
    ],
)
def test_a_pin_change_killed_before_its_line_is_recorded_by_the_next_command(
    cli: Cli, root: Path, app: Path, command: str, point: str, event: str
) -> None:
    """The meta's pinned flag stands and prune obeys it; the next state-changing command writes
    the missing pin / unpin line (with the pin's reason), marked recovered, once."""
    oldest = deploy_ok(cli, root, app)
    for _ in range(2):
        deploy_ok(cli, root, app)
    if command == "unpin":
        assert cli("pin", oldest, "--root", str(root), "-m", "audit").returncode == 0
    args = [command, oldest, "--root", str(root), *(["-m", "audit"] if command == "pin" else [])]
    killed = cli(*args, env={"RELEASES_FAULT": point})
    assert killed.returncode == KILLED
    assert history_of(root, event, torn=True) == []

    nxt = cli("prune", "--root", str(root), "--keep", "1")
    assert nxt.returncode == 0, nxt.stderr
    assert f"recovered: history did not record that {oldest} was {event}ned" in nxt.stderr
    (line,) = history_of(root, event, torn=True)
    assert line["id"] == oldest and line["recovered"] is True
    assert line.get("message") == ("audit" if event == "pin" else None)
    assert (root / "releases" / oldest).is_dir() is (event == "pin")
    again = cli("prune", "--root", str(root))
    assert "recovered" not in again.stderr and len(history_of(root, event, torn=True)) == 1


# 3. `releases pack`'s temp file.


@pytest.mark.real_process
def test_a_pack_killed_before_its_rename_leaves_a_temp_the_next_pack_removes(
    cli: Cli, app: Path, tmp_path: Path
) -> None:
    """SIGKILL after the artifact's temp is written, before the rename: no artifact, one temp
    beside it, and the scratch build root left in $TMPDIR. The next pack to the same file
    removes both and writes the artifact; it leaves alone a live pack's temp of that file
    (flock held, the pid alive or not), a temp whose pid is alive, a stale temp of another
    file, and a live pack's scratch root."""
    (app / "build.sh").write_text("echo built > out.txt\n")
    out = tmp_path / "shop.artifact"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch)}
    pack = ["pack", "--source", str(app), "--build", "sh build.sh", "-o", str(out)]
    killed = cli(*pack, env={**env, "RELEASES_FAULT": "after_pack_write"})
    assert killed.returncode == KILLED
    (stale,) = _temps(tmp_path, out.name)
    assert not out.exists() and stale.stat().st_size > 0
    (left,) = scratch.iterdir()
    assert left.name.startswith("releases-pack-")
    assert (left / "releases").is_dir()

    other = _killed_write(tmp_path / "other.artifact", b"half")
    alive = tmp_path / f".{out.name}.tmp-{os.getpid()}-0123abcd"
    alive.write_bytes(b"being written")
    held = tmp_path / f".{out.name}.tmp-{_dead_pid()}-89abcdef"
    held.write_bytes(b"being written elsewhere")
    busy = scratch / f"releases-pack-{_dead_pid()}-0123abcd"
    busy.mkdir()
    fd, busy_fd = os.open(held, os.O_RDONLY), os.open(busy, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        fcntl.flock(busy_fd, fcntl.LOCK_EX)
        done = cli(*pack, env=env)
    finally:
        os.close(fd)
        os.close(busy_fd)
    assert done.returncode == 0, done.stderr
    assert out.is_file() and not stale.exists()
    assert alive.read_bytes() == b"being written" and held.exists() and other.exists()
    assert _temps(tmp_path, out.name) == sorted([alive, held])
    assert list(scratch.iterdir()) == [busy]


# 4. The detached cleaner's log.


def test_the_cleaner_log_is_rotated_once_past_its_cap(root: Path, app: Path) -> None:
    """A cleaner.log already at its cap: the next detached cleaner's line starts a new log and
    the old one becomes cleaner.log.1 (replacing the one before), so the two stay bounded."""
    state = root / ".releases"
    for _ in range(2):
        deploy_ok(run_cli, root, app, "--keep", "1")
    for round_ in range(2):
        old = b"xy"[round_ : round_ + 1] * cleaner.LOG_CAP + b"\n"
        (state / cleaner.LOG_NAME).write_bytes(old)
        deploy_ok(run_cli, root, app, "--keep", "1")
        cleaner.wait_for_cleaners(state / "trash")
        assert (state / f"{cleaner.LOG_NAME}.1").read_bytes() == old, round_
        log = (state / cleaner.LOG_NAME).read_text()
        assert log.count("\n") == 1 and ": deleted trash/" in log
    total = sum((state / n).stat().st_size for n in (cleaner.LOG_NAME, f"{cleaner.LOG_NAME}.1"))
    assert total < 2 * cleaner.LOG_CAP + 4096


def test_the_cleaner_log_is_never_opened_through_a_swapped_link(
    root: Path, app: Path, outside: Path
) -> None:
    """`.releases` swapped for a link between the prune (under the lock) and the start of the
    cleaner (after it): the log is not opened through the link, nothing is written where it
    points, and the pruned tree is finished by the next command."""
    first = deploy_ok(run_cli, root, app)
    for _ in range(2):
        deploy_ok(run_cli, root, app)
    deploy_root = DeployRoot(root)
    result = prune_releases(deploy_root, keep=1)
    assert [i for i, _ in result.deleted] == [first]
    state = root / ".releases"
    state.rename(root / "moved")
    state.symlink_to(outside / "deep")
    before = tree_state(outside)
    try:
        delete_pruned(deploy_root, result, detached=True)
        cleaner.wait_for_cleaners(root / "moved" / "trash")
        assert tree_state(outside) == before
    finally:
        state.unlink()
        (root / "moved").rename(state)
    after = run_cli("prune", "--root", str(root))
    assert after.returncode == 0, after.stderr
    assert list((state / "trash").iterdir()) == []


def test_planted_entries_with_temp_names_are_never_opened_through(
    cli: Cli, root: Path, app: Path, outside: Path
) -> None:
    """A link to a file outside, a FIFO (an open would block) and a directory, each named like
    a dead writer's temp in .releases/: the next command unlinks the link and the FIFO (what the
    link points at is unchanged) without hanging, and leaves the directory alone."""
    deploy_ok(cli, root, app)
    state = root / ".releases"
    dead = _dead_pid()
    link = state / f".freeze.json.tmp-{dead}-0123abcd"
    link.symlink_to(outside / "precious.txt")
    fifo = state / "meta" / f".x.json.tmp-{dead}-0123abcd"
    os.mkfifo(fifo)
    directory = state / f".reserve.tmp-{dead}-0123abcd"
    directory.mkdir()
    before = tree_state(outside)
    done = cli("prune", "--root", str(root), timeout=60)
    assert done.returncode == 0, done.stderr
    assert not os.path.lexists(link) and not os.path.lexists(fifo) and directory.is_dir()
    assert tree_state(outside) == before
