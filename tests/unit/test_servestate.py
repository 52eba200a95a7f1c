"""The serve state file (serving/servestate.py) stays readable whatever leaves it: a canary's app
dropped (its PM2 app died and would not start again) takes the canary record with it, since a
state naming a canary without its app is refused as damaged by every reader."""

from __future__ import annotations

from pathlib import Path

from releases_cli.core.compat import UTC
from releases_cli.core.layout import DeployRoot
from releases_cli.serving.servestate import AppEntry, Canary, ServeState, read_state, write_state

STABLE, CANARY = "20261201T000000Z", "20261202T000000Z"


def _split(root: DeployRoot) -> ServeState:
    from datetime import datetime

    canary = Canary(CANARY, STABLE, 10, ((10, 60.0),), 0, datetime(2026, 12, 2, tzinfo=UTC), {})
    apps = {STABLE: AppEntry(3100), CANARY: AppEntry(3101)}
    return ServeState(STABLE, True, apps, canary=canary)


def test_dropping_the_canarys_app_drops_the_canary_and_the_file_stays_readable(
    tmp_path: Path,
) -> None:
    root = DeployRoot(tmp_path)
    root.ensure_layout(make_root=True)
    write_state(root, _split(root))
    assert read_state(root).canary is not None
    write_state(root, read_state(root).without(CANARY))
    state = read_state(root)
    assert not state.damaged
    assert state.canary is None and set(state.apps) == {STABLE} and state.live == STABLE


def test_dropping_another_app_keeps_the_canary(tmp_path: Path) -> None:
    root = DeployRoot(tmp_path)
    root.ensure_layout(make_root=True)
    split = _split(root)
    apps = {**split.apps, "20261130T000000Z": AppEntry(3102)}
    state = ServeState(STABLE, True, apps, canary=split.canary)
    write_state(root, state.without("20261130T000000Z"))
    assert read_state(root).canary == split.canary
