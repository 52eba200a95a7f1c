"""The library's reporter interface: works with a plain callback and with a full Reporter."""

from __future__ import annotations

import io
import re

import pytest

from releases_cli.cli.progress import TimestampReporter
from releases_cli.core.report import PlainReporter, Stage, echo_for, stage


def test_a_plain_callback_gets_one_note_per_stage() -> None:
    """Callers that pass `print`-like callbacks (the foundation's interface) keep working:
    each stage is one note, and the stage's error propagates unchanged."""
    notes: list[str] = []
    with stage(notes.append, Stage.BUILD, "$ npm ci"):
        pass
    with pytest.raises(RuntimeError, match="boom"), stage(notes.append, Stage.SWITCH):
        raise RuntimeError("boom")
    assert notes == ["build: $ npm ci", "switch"]
    assert echo_for(notes.append, None) is None, "plain callbacks leave command output alone"


def test_a_reporter_hears_start_finish_failure_and_output() -> None:
    """A Reporter gets started/finished with elapsed time, failure marked, the detail the
    stage body set, and command output written through `echo_for`'s stream."""
    out = io.StringIO()
    reporter = PlainReporter(out)
    with stage(reporter, Stage.PRUNE, "keep=5") as pruning:
        pruning.detail = "deleted 2"
    with pytest.raises(KeyError), stage(reporter, Stage.HEALTH, "http://127.0.0.1:1/"):
        raise KeyError("down")
    stream = echo_for(reporter, None)
    assert stream is not None
    stream.write("npm notice\n")
    lines = out.getvalue().splitlines()
    assert lines[0] == "prune: keep=5"
    assert re.fullmatch(r"prune done in \d+\.\ds \(deleted 2\)", lines[1])
    assert re.fullmatch(r"health check FAILED in \d+\.\ds", lines[3])
    assert lines[4] == "npm notice"


def test_timestamp_reporter_never_writes_escape_codes() -> None:
    """The non-terminal renderer strips escape sequences from notes and command output."""
    out, err = io.StringIO(), io.StringIO()
    reporter = TimestampReporter(out, err)
    reporter.stage_started(Stage.BUILD, "$ make")
    reporter.output("\x1b[31mred\x1b[0m \x1b]0;title\x07done\n")
    reporter("\x1b[1mbold note\x1b[0m")
    reporter.stage_finished(Stage.BUILD, 1.25, True, "")
    assert "\x1b" not in out.getvalue() + err.getvalue()
    assert "red done\n" in out.getvalue()
    assert re.fullmatch(r"\S+Z bold note\n", err.getvalue())
    assert out.getvalue().splitlines()[-1].endswith("build: ok in 1.2s")
