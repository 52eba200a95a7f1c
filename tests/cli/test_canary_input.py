"""What the canary and the watch take from the user and show back, without a server: the
stages of `--canary` / [serve] canary, the [analysis] thresholds (bad ones: one line, exit 3,
nothing built), and the live counts a watch shows (a redrawn line on a terminal, a
timestamped line anywhere else)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers import Cli

from releases_cli import config
from releases_cli.cli.progress import TerminalReporter, TimestampReporter, live_line
from releases_cli.core.errors import InvalidInput


@pytest.mark.parametrize(
    ("given", "stages"),
    [
        ("0", ()),
        ("", ()),
        ("10%", ((10, None),)),
        ("5%:2m, 25%:5m", ((5, 120.0), (25, 300.0))),
        ("5%:90s,50%", ((5, 90.0), (50, None))),
    ],
)
def test_canary_stages_are_read_with_their_durations(given: str, stages: object) -> None:
    """A stage without a duration lasts [serve] watch (None here, filled in by the deploy)."""
    cfg = config.loads(f'[serve]\nmode = "blue-green"\ncanary = "{given}"\n')
    assert cfg.serve.canary == stages


@pytest.mark.parametrize("given", ["100%", "25%,10%", "10", "10%:soon", "10%;20%", "0%:2m"])
def test_bad_canary_stages_are_refused_naming_the_key(given: str) -> None:
    with pytest.raises(InvalidInput, match=r"serve\.canary must have shares|serve\.canary must be"):
        config.loads(f'[serve]\ncanary = "{given}"\n')


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_error_rate", "1.5"), ("error_ratio", "0.5"), ("p95_ratio", "nan"), ("interval", "0")],
)
def test_bad_thresholds_are_refused_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(InvalidInput, match=rf"analysis\.{key}"):
        config.loads(f"[analysis]\n{key} = {value}\n")


def test_a_bad_canary_flag_is_one_line_and_builds_nothing(cli: Cli, tmp_path: Path) -> None:
    root, source = tmp_path / "root", tmp_path / "src"
    source.mkdir()
    (source / "index.html").write_text("v1\n")
    assert cli("init", "--root", str(root)).returncode == 0
    result = cli("deploy", "--root", str(root), "--source", str(source), "--canary", "150%")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "--canary (serve.canary)" in result.stderr
    assert not any((root / "releases").iterdir())


def test_the_live_counts_redraw_one_line_on_a_terminal() -> None:
    out, err = io.StringIO(), io.StringIO()
    reporter = TerminalReporter(out, err, color=False)
    show = live_line(reporter)
    show("canary 10% stage 1/1, 60s left: a 3 req")
    show("canary 10% stage 1/1, 55s left: a 9 req")
    reporter.stage_finished("watch", 1.0, True, "promoted")
    text = out.getvalue()
    assert "55s left: a 9 req" in text and "\r\x1b[K" in text
    assert text.count("\n") == 1  # the live line, redrawn in place, then the final one
    assert err.getvalue() == ""


def test_the_live_counts_are_timestamped_lines_anywhere_else() -> None:
    out, err = io.StringIO(), io.StringIO()
    show = live_line(TimestampReporter(out, err))
    show("watch a, 20s left: a 3 req 0 5xx p95 4ms")
    show("watch a, 15s left: a 9 req 0 5xx p95 4ms")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].endswith("15s left: a 9 req 0 5xx p95 4ms")
    assert lines[1][:4].isdigit() and lines[1][19] == "Z"
