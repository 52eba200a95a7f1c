"""Every state change ends with one line a person can paste into a chat."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import Cli, current_id, deploy_ok

from releases_cli.cli import summary

TOOK = r"\d+(?:ms|\.\ds|s|m\d\ds)"


def test_deploy_rollback_and_prune_each_end_with_one_summary_line(
    cli: Cli, root: Path, app: Path
) -> None:
    """The last stdout line of deploy, rollback and prune is the summary, naming the releases
    involved and how long it took."""
    first = deploy_ok(cli, root, app)
    result = cli("deploy", "--root", str(root), "--source", str(app))
    second = current_id(root)
    last = result.stdout.splitlines()[-1]
    assert re.fullmatch(rf"deployed {second} in {TOOK}; previous {first}; pruned 0", last), last

    result = cli("rollback", "--root", str(root))
    last = result.stdout.splitlines()[-1]
    assert re.fullmatch(rf"rolled back to {first} in {TOOK}; previous {second}", last), last

    third = deploy_ok(cli, root, app)  # current third, previous first: second is prunable
    dry = cli("prune", "--root", str(root), "--keep", "1", "--dry-run")
    assert dry.stdout.splitlines()[-1] == (
        f"would prune 1 ({second}); would keep 2 (dry run, nothing deleted)"
    )
    real = cli("prune", "--root", str(root), "--keep", "1")
    last = real.stdout.splitlines()[-1]
    assert re.fullmatch(rf"pruned 1 \({second}\) in {TOOK}; kept 2", last), last
    assert sorted(p.name for p in (root / "releases").iterdir()) == [first, third]


def test_summary_names_the_commit_when_the_source_knows_it() -> None:
    """A git source's revision and subject appear as `(a1b2c3d "subject")`, long subjects
    clipped so the line stays short; a directory source adds nothing."""
    git = {"type": "git", "revision": "a1b2c3d4e5f6", "subject": "Fix cart"}
    line = summary.deployed("20261126T101500Z", git, 42.2, "20261126T093000Z", ["x", "y"])
    assert line == (
        'deployed 20261126T101500Z (a1b2c3d "Fix cart") in 42s; previous 20261126T093000Z; pruned 2'
    )
    long_subject = {"revision": "a1b2c3d4e5f6", "subject": "x" * 200}
    assert len(summary.revision(long_subject)) < 70
    assert summary.revision({"type": "dir", "path": "/src"}) == ""


def test_durations_read_naturally() -> None:
    """Sub-second in ms, seconds with one decimal under 10 s, minutes past a minute."""
    assert [summary.duration(s) for s in (0.0123, 4.24, 42.4, 185)] == [
        "12ms",
        "4.2s",
        "42s",
        "3m05s",
    ]


def test_ages_are_coarse() -> None:
    """`status` says how long ago a release was built in one short unit."""
    assert [summary.age(s) for s in (-1, 40, 600, 5 * 3600 + 59, 3 * 86400)] == [
        "0s",
        "40s",
        "10m",
        "5h",
        "3d",
    ]
