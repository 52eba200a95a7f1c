"""A full disk is when operators need us most: prune and rollback still work on a 100 % full
filesystem (a real tmpfs mounted by the test), and no write refused by the disk (ENOSPC, EIO)
ever becomes a traceback or breaks the crash-safety invariants."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Cli, current_id, deploy_ok, history_of, meta_of
from mounts import fill, remount_read_only, tmpfs

from releases_cli.core.reserve import RESERVE_BYTES


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs as the deploy root (needs mount rights)."""
    with tmpfs(tmp_path / "small", "8m") as mountpoint:
        yield mountpoint


def _releases(root: Path) -> set[str]:
    return {p.name for p in (root / "releases").iterdir()}


def _clean(result: Any) -> None:
    """No traceback, and at most one error line."""
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("releases: error")]
    assert len(errors) <= 1, result.stderr


def _pad_history_to_a_page(root: Path) -> None:
    """Pad the history with a blank line (skipped by readers) to a multiple of 4 KiB, so the
    next append needs a page a full tmpfs does not have."""
    history = root / ".releases" / "history.jsonl"
    size = history.stat().st_size
    with history.open("a") as out:
        out.write(" " * (-(size + 1) % 4096) + "\n")
    assert history.stat().st_size % 4096 == 0


def test_rollback_and_prune_work_on_a_full_disk(cli: Cli, small_fs: Path, app: Path) -> None:
    """With not one byte free, rollback switches and records it, and prune deletes and records
    it: both spend the reserve deploys leave in .releases/ (and say so). Once there is room, the
    next deploy puts the reserve back."""
    ids = [deploy_ok(cli, small_fs, app) for _ in range(4)]
    reserve = small_fs / ".releases" / "reserve"
    assert reserve.stat().st_size == RESERVE_BYTES
    filler = fill(small_fs)

    back = cli("rollback", "--root", str(small_fs))
    _clean(back)
    assert back.returncode == 0, back.stderr
    assert "the disk is full" in back.stderr and "released" in back.stderr
    assert current_id(small_fs) == ids[2]
    last = history_of(small_fs)[-1]
    assert (last["event"], last["id"], last["reason"]) == ("switch", ids[2], "rollback")
    assert not reserve.exists()

    pruned = cli("prune", "--root", str(small_fs), "--keep", "1")
    _clean(pruned)
    assert pruned.returncode == 0, pruned.stderr
    assert _releases(small_fs) == set(ids[1:]), "current, rollback target and newest stay"
    assert [e["ids"] for e in history_of(small_fs) if e["event"] == "prune"] == [[ids[0]]]

    filler.unlink()
    assert deploy_ok(cli, small_fs, app) not in ids
    assert reserve.stat().st_size == RESERVE_BYTES


def test_prune_without_a_reserve_deletes_first_and_records_after(
    cli: Cli, small_fs: Path, app: Path
) -> None:
    """No reserve (a root from before it existed, or one already spent) and not even room for
    the write-ahead prune line: prune takes the releases out first (renames need no space),
    deletes them, and then there is room for the line, which says how it went."""
    ids = [deploy_ok(cli, small_fs, app) for _ in range(3)]
    (small_fs / ".releases" / "reserve").unlink()
    _pad_history_to_a_page(small_fs)
    fill(small_fs)
    pruned = cli("prune", "--root", str(small_fs), "--keep", "1")
    _clean(pruned)
    assert pruned.returncode == 0, pruned.stderr
    assert "deleting first, recording the prune after" in pruned.stderr
    assert _releases(small_fs) == set(ids[1:])
    prune = [e for e in history_of(small_fs) if e["event"] == "prune"]
    assert [(e["ids"], e["after_full_disk"]) for e in prune] == [([ids[0]], True)]
    assert not list((small_fs / ".releases" / "trash").iterdir())
    assert current_id(small_fs) == ids[2]


def test_rollback_without_room_to_record_it_is_recorded_by_the_next_command(
    cli: Cli, small_fs: Path, app: Path
) -> None:
    """No reserve and no room for the history line: the rollback itself (a rename) still
    happens, exit 0 with a warning; the next command, with room again, records the switch, so
    a second rollback walks back from the right place."""
    first, second, third = (deploy_ok(cli, small_fs, app) for _ in range(3))
    (small_fs / ".releases" / "reserve").unlink()
    _pad_history_to_a_page(small_fs)
    filler = fill(small_fs)
    back = cli("rollback", "--root", str(small_fs))
    _clean(back)
    assert back.returncode == 0, back.stderr
    assert "rolled back, but the history could not record it" in back.stderr
    assert current_id(small_fs) == second
    filler.unlink()
    again = cli("rollback", "--root", str(small_fs))
    assert again.returncode == 0, again.stderr
    assert "recorded it now" in again.stderr
    assert current_id(small_fs) == first
    assert third in _releases(small_fs)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("ENOSPC:history.jsonl", 11),
        ("ENOSPC:*.json", 11),
        ("ENOSPC:lock.info", 0),
        ("EIO:history.jsonl", 11),
        ("EIO:*.json", 11),
    ],
)
def test_deploy_whose_bookkeeping_cannot_be_written(
    cli: Cli, root: Path, app: Path, fault: str, code: int
) -> None:
    """The history, a meta file or the lock-info file refused by the disk during a deploy:
    one line naming the file and the reason (exit 11) or, for the lock info that only feeds
    the "busy" message, no error at all; `current` is never moved to the half-made release,
    and the next deploy cleans up and succeeds."""
    first = deploy_ok(cli, root, app)
    result = cli("deploy", "--root", str(root), "--source", str(app), env={"RELEASES_FAULT": fault})
    _clean(result)
    assert result.returncode == code, result.stderr
    if code:
        (error,) = [x for x in result.stderr.splitlines() if x.startswith("releases: error")]
        assert fault.split(":")[1].lstrip("*") in error
        reason = "No space left on device" if fault.startswith("ENOSPC") else "Input/output error"
        assert reason in error
        assert current_id(root) == first
        assert meta_of(root, first)["status"] == "complete"
    second = deploy_ok(cli, root, app)
    assert second != first and meta_of(root, second)["status"] == "complete"


@pytest.mark.parametrize("fault", ["ENOSPC:history.jsonl", "EIO:history.jsonl"])
def test_prune_that_cannot_write_its_record(cli: Cli, root: Path, app: Path, fault: str) -> None:
    """ENOSPC on the history: prune deletes anyway (the names in the trash are the record a
    crash would leave) and warns that the line is missing. EIO is a failing disk, not a full
    one: nothing is deleted, one line, exit 11."""
    ids = [deploy_ok(cli, root, app) for _ in range(3)]
    result = cli("prune", "--root", str(root), "--keep", "1", env={"RELEASES_FAULT": fault})
    _clean(result)
    if fault.startswith("ENOSPC"):
        assert result.returncode == 0, result.stderr
        assert "could not finish the bookkeeping" in result.stderr
        assert _releases(root) == set(ids[1:])
    else:
        assert result.returncode == 11, result.stderr
        assert "Input/output error" in result.stderr and "history.jsonl" in result.stderr
        assert _releases(root) == set(ids)
    assert current_id(root) == ids[-1]
    trash = root / ".releases" / "trash"
    assert not trash.exists() or not list(trash.iterdir())


def test_a_read_only_filesystem_is_one_line_and_changes_nothing(
    cli: Cli, small_fs: Path, app: Path
) -> None:
    """The deploy root's filesystem remounted read-only: deploy, rollback and prune each fail
    with one line and a documented code; list and status still read."""
    ids = [deploy_ok(cli, small_fs, app) for _ in range(2)]
    remount_read_only(small_fs)
    for args in (
        ("deploy", "--source", str(app)),
        ("rollback",),
        ("prune", "--keep", "1"),
        ("switch", ids[0]),
    ):
        result = cli(*args, "--root", str(small_fs))
        _clean(result)
        assert result.returncode in (7, 11), (args, result.stderr)
        assert result.stderr.strip().splitlines()[-1].startswith("releases: error: "), args
    assert current_id(small_fs) == ids[1]
    assert cli("list", "--root", str(small_fs)).returncode == 0
    assert cli("status", "--root", str(small_fs)).returncode == 0
    assert os.listdir(small_fs / "releases") == os.listdir(small_fs / "releases")


def test_prune_killed_while_deleting_first_is_finished_by_the_next_command(
    cli: Cli, root: Path, app: Path
) -> None:
    """No room for the write-ahead line, then SIGKILL right after the first release went into
    the trash: the releases kept are intact, and the next prune finishes that deletion and
    records it (`prune_interrupted`): the names in the trash were the record."""
    ids = [deploy_ok(cli, root, app) for _ in range(4)]
    fault = "ENOSPC:history.jsonl,mid_prune"
    killed = cli("prune", "--root", str(root), "--keep", "1", env={"RELEASES_FAULT": fault})
    assert killed.returncode == -9, killed.stderr
    assert current_id(root) == ids[3]
    assert {ids[1], ids[2], ids[3]} <= _releases(root)
    again = cli("prune", "--root", str(root), "--keep", "1")
    assert again.returncode == 0, again.stderr
    assert f"finished deleting {ids[0]}" in again.stderr
    assert [e["id"] for e in history_of(root) if e["event"] == "prune_interrupted"] == [ids[0]]
    assert _releases(root) == {ids[2], ids[3]}
    assert all(meta_of(root, i)["status"] == "complete" for i in ids[2:])
