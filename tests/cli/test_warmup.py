"""Warm-up before a flip, with a real PM2 and nginx (tests/bgstack.py): the target of a deploy,
rollback or switch gets its warm-up GETs on its own port while nginx and `current` still name the
release live before; `releases reap` keeps apps waiting warm warm; a warm-up never fails a flip.

The app logs every request it answers with the release `current` named at that moment, so the
log itself shows that the warm-up came before the flip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bgstack import APP_SERVER, Stack, deploy, running_stack
from helpers import Cli, current_id

# APP_SERVER, plus: every request appended to requests.log in the release as
# "<path> <user agent> <release current names>"; /boom answers 500.
LOGGING_APP = APP_SERVER.replace(
    "    def do_GET(self):\n",
    "    def do_GET(self):\n"
    "        current = os.path.join(os.getcwd(), '..', '..', 'current')\n"
    "        live = os.path.basename(os.readlink(current)) if os.path.islink(current) else '-'\n"
    "        with open('requests.log', 'a') as log:\n"
    "            log.write(f\"{self.path} {self.headers.get('user-agent')} {live}\\n\")\n"
    "        if self.path == '/boom':\n"
    "            self.send_response(500); self.send_header('content-length', '0')\n"
    "            self.end_headers()\n"
    "            return\n",
)
WARMUP = '\nwarmup_paths = ["/a", "/b"]\nwarmup_requests = 12\nwarmup_concurrency = 3\n'


@pytest.fixture
def stack(tmp_path: Path, cli: Cli) -> Iterator[Stack]:
    with running_stack(tmp_path, cli) as s:
        (s.source / "server.py").write_text(LOGGING_APP)
        yield s


def warmups(s: Stack, release: str) -> list[tuple[str, str]]:
    """(path, release live at that moment) of each warm-up request `release`'s app answered."""
    log = s.root / "releases" / release / "requests.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [
        (p, live)
        for p, agent, live in (ln.split(" ") for ln in lines)
        if agent == "releases-warmup"
    ]


def test_deploy_and_rollback_warm_the_target_before_the_flip(cli: Cli, stack: Stack) -> None:
    stack.config(extra=WARMUP)
    a = deploy(cli, stack)
    b = deploy(cli, stack)
    seen = warmups(stack, b)
    assert len(seen) == 12
    assert {p for p, _ in seen} == {"/", "/a", "/b"}, "health path and warmup_paths, spread"
    assert {live for _, live in seen} == {a}, "a warm-up request came after the flip"
    before = len(warmups(stack, a))
    result = cli("rollback", "--root", str(stack.root), env=stack.env())
    assert result.returncode == 0, result.stderr
    assert "serve: warmed up" in result.stderr + result.stdout
    again = warmups(stack, a)[before:]
    assert len(again) == 12 and {live for _, live in again} == {b}
    assert stack.served() == a


def test_warmup_requests_0_sends_none(cli: Cli, stack: Stack) -> None:
    stack.config(extra="\nwarmup_requests = 0\n")
    deploy(cli, stack)
    b = deploy(cli, stack)
    assert warmups(stack, b) == []


def test_reap_keeps_apps_waiting_warm_warm_and_leaves_the_live_one(cli: Cli, stack: Stack) -> None:
    stack.config(extra=WARMUP)
    a = deploy(cli, stack)
    b = deploy(cli, stack)
    warm_before, live_before = len(warmups(stack, a)), len(warmups(stack, b))
    result = cli("reap", "--root", str(stack.root), env=stack.env())
    assert result.returncode == 0, result.stderr
    kept = warmups(stack, a)[warm_before:]
    assert sorted(p for p, _ in kept) == ["/", "/a", "/b"]  # one round, one PM2 instance
    assert len(warmups(stack, b)) == live_before


def test_a_failing_warmup_path_is_reported_and_does_not_stop_the_flip(
    cli: Cli, stack: Stack
) -> None:
    stack.config(extra='\nwarmup_paths = ["/boom"]\nwarmup_requests = 4\n')
    deploy(cli, stack)
    result = cli(
        "deploy", "--root", str(stack.root), "--source", str(stack.source), env=stack.env()
    )
    assert result.returncode == 0, result.stderr
    b = current_id(stack.root)
    assert stack.served() == b
    assert "4 request(s), 2 error(s)" in result.stderr + result.stdout
