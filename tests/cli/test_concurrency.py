"""Concurrent deploys on one root: each completes or fails fast with the lock message; ids are
unique, `current` stays valid, the history stays consistent, and `list` never waits."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from helpers import Cli, history_of, meta_of, start_cli

RACERS = 8


def _start(root: Path, app: Path, *extra: str) -> subprocess.Popen[str]:
    args = ["deploy", "--root", str(root), "--source", str(app), *extra]
    return start_cli(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _assert_history_consistent(root: Path, expected_deploys: int) -> list[str]:
    """Every line parses, every deploy_started is closed by deploy_finished, the ids are
    unique, and the last switch names the live release. Returns the deployed ids."""
    events = history_of(root)
    started = [e["id"] for e in events if e["event"] == "deploy_started"]
    finished = [e["id"] for e in events if e["event"] == "deploy_finished"]
    assert len(started) == len(set(started)) == expected_deploys
    assert sorted(started) == sorted(finished)
    switches = [e["id"] for e in events if e["event"] == "switch"]
    live = os.readlink(root / "current")
    assert live == f"releases/{switches[-1]}"
    meta = meta_of(root, switches[-1])
    assert meta["status"] == "complete"
    return started


def test_eight_deploys_at_once_one_wins_rest_fail_fast(cli: Cli, root: Path, app: Path) -> None:
    """8 deploys start together on a fresh root. The first to lock builds until a gate file
    appears; the gate opens only after the other 7 have exited, so they cannot have waited for
    it: each exits 5 with the lock message. `list` answers while the winner still builds."""
    gate = root.parent / "gate"
    build = f"for i in $(seq 1200); do [ -e {gate} ] && exit 0; sleep 0.05; done; exit 1"
    procs = [_start(root, app, "--build", build) for _ in range(RACERS)]
    try:
        deadline = time.monotonic() + 60
        while sum(p.poll() is not None for p in procs) < RACERS - 1:
            assert time.monotonic() < deadline, "the losers never exited"
            time.sleep(0.05)
        running = [p for p in procs if p.poll() is None]
        assert len(running) == 1, "exactly one deploy holds the lock"
        holder = running[0]
        finished = [(p.returncode, p.communicate()[1]) for p in procs if p is not holder]
        assert len(finished) == RACERS - 1
        for code, err in finished:
            assert code == 5, err
            assert "another releases command holds the lock" in err
            assert err.count("\n") == 1, "one line on stderr"
        listing = cli("list", "--root", str(root), "--json")
        assert listing.returncode == 0, "list answers while the lock is held"
        statuses = [r["status"] for r in json.loads(listing.stdout)["releases"]]
        assert statuses == ["incomplete"], "the build in progress shows as incomplete"
    finally:
        gate.touch()
    assert holder.wait(timeout=60) == 0
    _assert_history_consistent(root, 1)


def test_eight_waiting_deploys_all_land_with_unique_ids(cli: Cli, root: Path, app: Path) -> None:
    """8 deploys started together with --wait all succeed, one after another: 8 distinct
    complete releases, every deploy closed in the history, `current` is the last one."""
    procs = [_start(root, app, "--wait", "120", "--keep", "10") for _ in range(RACERS)]
    results = [(p.wait(timeout=180), p.communicate()[1]) for p in procs]
    assert [code for code, _ in results] == [0] * RACERS, results
    deployed = _assert_history_consistent(root, RACERS)
    assert sorted(p.name for p in (root / "releases").iterdir()) == sorted(deployed)
    listing = json.loads(cli("list", "--root", str(root), "--json").stdout)
    assert all(r["complete"] for r in listing["releases"])
    assert listing["current"] == deployed[-1]
