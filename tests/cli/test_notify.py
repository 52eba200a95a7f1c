"""[notify] webhooks, against real HTTP servers on 127.0.0.1: the Slack, Discord and plain JSON
bodies, what is notified (deploy finished / failed, automatic switch-back, rollback), one retry,
a deadline a hanging server cannot stretch, and a failure that only warns."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import Cli, deploy_ok

from releases_cli.pipelines.notify import format_of


class Hook:
    """A webhook receiver: records each POST (path, JSON body); answers `status`, or never
    answers while `hang` is set (until the test ends)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, object]]] = []
        self.gets: list[str] = []
        self.status = 200
        self.hang = False
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append((self.path, json.loads(body)))
                if hook.hang:
                    hook.release.wait(120)
                    return
                self.send_response(hook.status)
                if 300 <= hook.status < 400:
                    self.send_header("Location", f"{hook.url}/moved")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # a health URL that always fails
                hook.gets.append(self.path)
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def bodies(self) -> list[dict[str, object]]:
        return [body for _, body in self.received]


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.server.shutdown()
    server.server.server_close()


def _configure(root: Path, body: str) -> None:
    """Write releases.toml; a [notify] without a timeout gets a generous one, so a loaded
    machine never loses a notification the test counts (the deadline has its own test)."""
    root.mkdir(exist_ok=True)
    if "timeout" not in body.partition("[notify]")[2].partition("\n[")[0]:
        body = body.replace("[notify]\n", "[notify]\ntimeout = 60\n", 1)
    (root / "releases.toml").write_text(body)


@pytest.mark.parametrize("fmt", ["slack", "discord", "json"])
def test_deploy_finished_is_sent_in_each_body_format(
    cli: Cli, root: Path, app: Path, hook: Hook, fmt: str
) -> None:
    """A successful deploy sends one POST: Slack `{"text"}`, Discord `{"content"}` (one line
    naming host, event, release, user, message) or the documented JSON with every fact."""
    _configure(root, f'[notify]\nurls = ["{hook.url}/hook"]\nformat = "{fmt}"\n')
    release = deploy_ok(cli, root, app, "-m", "fix totals")
    assert len(hook.received) == 1
    body = hook.bodies()[0]
    if fmt == "json":
        assert body["event"] == "deploy finished" and body["release"] == release
        assert body["message"] == "fix totals" and body["root"] == str(root)
        assert body["user"] and body["host"] and isinstance(body["seconds"], float)
        assert str(body["summary"]).startswith(f"deployed {release} in ")
    else:
        (key,) = body
        assert key == ("text" if fmt == "slack" else "content")
        line = str(body[key])
        assert "deploy finished: deployed " in line and release in line
        assert line.endswith(': "fix totals"')


def test_failure_switch_back_and_rollback_are_notified(
    cli: Cli, root: Path, app: Path, hook: Hook
) -> None:
    """A failed build sends "deploy failed" (exit 6 unchanged), a failed health check
    "automatic switch-back" (exit 9), a rollback "rollback" with its message."""
    notify = f'[notify]\nurls = ["{hook.url}/h"]\nformat = "json"\n'
    _configure(root, notify + "[health]\ntimeout = 0.5\ninterval = 0.1\n")
    first = deploy_ok(cli, root, app)
    failed = cli("deploy", "--root", str(root), "--source", str(app), "--build", "false")
    assert failed.returncode == 6
    unhealthy = cli(
        "deploy", "--root", str(root), "--source", str(app), "--health-url", f"{hook.url}/health"
    )
    assert unhealthy.returncode == 9, unhealthy.stderr
    second = deploy_ok(cli, root, app)
    assert cli("rollback", "--root", str(root), "-m", "bad").returncode == 0
    events = [(b["event"], b["release"]) for b in hook.bodies()]
    assert len(events) == 5, events
    assert events[0] == ("deploy finished", first)
    assert events[1][0] == "deploy failed" and events[2] == ("automatic switch-back", first)
    assert events[3] == ("deploy finished", second)
    assert events[4] == ("rollback", first) and hook.bodies()[4]["message"] == "bad"
    assert "build command 'false' failed" in str(hook.bodies()[1]["summary"])


def test_a_failing_webhook_is_retried_once_then_only_warns(
    cli: Cli, root: Path, app: Path, hook: Hook
) -> None:
    """A webhook answering 500 gets exactly two attempts; the deploy still succeeds (exit 0)
    with one warning that names the host, never the URL's secret path."""
    hook.status = 500
    _configure(root, f'[notify]\nurls = ["{hook.url}/T000/SECRET"]\n')
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 0, result.stderr
    assert len(hook.received) == 2
    warning = next(line for line in result.stderr.splitlines() if "notification" in line)
    assert "HTTP 500" in warning and "SECRET" not in warning and "127.0.0.1" in warning


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_webhook_answering_a_redirect_is_not_delivered(
    cli: Cli, root: Path, app: Path, hook: Hook, status: int
) -> None:
    """A 3xx is not a delivery: the redirect is not followed (no request reaches where it
    points), and the deploy warns as for any failed notification."""
    hook.status = status
    _configure(root, f'[notify]\nurls = ["{hook.url}/hook"]\n')
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 0, result.stderr
    assert [path for path, _ in hook.received] == ["/hook", "/hook"]  # tried, retried once
    assert hook.gets == []
    assert f"failed (HTTP {status} (a redirect: not followed, not delivered))" in result.stderr


def test_urls_with_credentials_are_refused_without_showing_them(
    cli: Cli, root: Path, app: Path, hook: Hook
) -> None:
    """`https://user:pass@host/` in releases.toml: exit 3 when the config is read, nothing
    made, the password nowhere; from the environment: skipped with a warning, never sent."""
    port = hook.url.rsplit(":", 1)[1]
    _configure(root, f'[notify]\nurls = ["http://ops:hunter2@127.0.0.1:{port}/hook"]\n')
    refused = cli("deploy", "--root", str(root), "--source", str(app))
    assert refused.returncode == 3
    assert "user or password" in refused.stderr and "hunter2" not in refused.stderr
    assert len(refused.stderr.splitlines()) == 1 and refused.stdout == ""
    assert not (root / "releases").exists() or os.listdir(root / "releases") == []
    _configure(root, '[notify]\nformat = "json"\n')
    env = {"RELEASES_NOTIFY_URL": f"http://ops:hunter2@127.0.0.1:{port}/env"}
    deployed = cli("deploy", "--root", str(root), "--source", str(app), env=env)
    assert deployed.returncode == 0, deployed.stderr
    assert "skipped http://127.0.0.1" in deployed.stderr and "user:pass@" in deployed.stderr
    assert hook.received == []
    for place in (root / ".releases" / "history.jsonl", *(root / ".releases" / "logs").iterdir()):
        assert b"hunter2" not in place.read_bytes()
    health = cli("deploy", "--root", str(root), "--source", str(app),
                 "--health-url", "http://u:hunter2@127.0.0.1:9/")  # fmt: skip
    assert health.returncode == 3 and "hunter2" not in health.stderr


def test_a_hanging_webhook_cannot_hold_the_command_past_its_deadline(
    cli: Cli, root: Path, app: Path, hook: Hook
) -> None:
    """A webhook that accepts the request and never answers is abandoned at notify.timeout:
    the deploy process exits 0 by itself (the test's process timeout is only a safety net)
    with a warning saying it did not answer in time."""
    hook.hang = True
    _configure(root, f'[notify]\nurls = ["{hook.url}/h"]\ntimeout = 0.5\n')
    result = cli("deploy", "--root", str(root), "--source", str(app), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "no answer within 0.5s" in result.stderr
    assert len(hook.received) == 1


def test_urls_from_the_environment_and_a_shared_file(
    cli: Cli, root: Path, app: Path, hook: Hook, outside: Path
) -> None:
    """URLs come from the environment variable and the file in shared/ too (comments and
    blank lines skipped); a url_file that is a symlink is not followed (a warning instead)."""
    _configure(root, '[notify]\nurl_file = "notify.urls"\nformat = "json"\n')
    assert cli("init", "--root", str(root)).returncode == 0
    (root / "shared" / "notify.urls").write_text(f"# team\n\n{hook.url}/file\n")
    result = cli(
        "deploy",
        "--root",
        str(root),
        "--source",
        str(app),
        env={"RELEASES_NOTIFY_URL": f"{hook.url}/env"},
    )
    assert result.returncode == 0, result.stderr
    assert sorted(path for path, _ in hook.received) == ["/env", "/file"]
    (outside / "urls").write_text(f"{hook.url}/outside\n")
    (root / "shared" / "notify.urls").unlink()
    (root / "shared" / "notify.urls").symlink_to(outside / "urls")
    linked = cli("deploy", "--root", str(root), "--source", str(app))
    assert linked.returncode == 0
    assert "notify.url_file" in linked.stderr and "symlink" in linked.stderr
    assert "/outside" not in [path for path, _ in hook.received]


def test_auto_format_picks_the_body_by_host() -> None:
    """`format = "auto"`: Slack for hooks.slack.com, Discord for discord.com/api/webhooks/,
    plain JSON for anything else; an explicit format wins."""
    assert format_of("https://hooks.slack.com/services/T/B/X", "auto") == "slack"
    assert format_of("https://discord.com/api/webhooks/1/abc", "auto") == "discord"
    assert format_of("https://discord.com/other", "auto") == "json"
    assert format_of("https://example.com/hook", "auto") == "json"
    assert format_of("https://example.com/hook", "slack") == "slack"
