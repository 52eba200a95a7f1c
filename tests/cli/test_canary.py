"""The canary in blue-green mode with a real PM2 and a real nginx (tests/bgstack.py; the
released app is bgstack's small Python HTTP server, a stand-in for Next.js: what is tested is
the routing, the state and the decisions, not the framework): a sticky share of visitors on
the new release, requests with a deployment id routed as before, promote and abort by hand and
by analysis, and recovery of a canary whose watcher is gone.

The decisions are the real analysis's (serving/accesslog.py reads the log nginx writes in the
generated include's format, serving/analysis.py judges), with a small min_requests and a short
interval so a test decides in seconds."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bgstack import APP_SERVER, Stack, deploy, running_stack, state
from helpers import Cli, current_id, free_port

from releases_cli import config
from releases_cli.core.errors import Aborted
from releases_cli.core.events import CanaryAborted, read_history
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import read_meta
from releases_cli.pipelines import canary
from releases_cli.pipelines.publish import live_options
from releases_cli.serving.strategy import Stages

SITE = """
    server {{
        listen 127.0.0.1:{port};
        access_log {log} releases_t;
        add_header Set-Cookie $t_canary_cookie always;
        add_header X-Releases-Live $t_live_id always;
        location / {{
            proxy_pass http://$t_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
"""


class Site:
    """The stack plus a server block as `releases nginx` prints it for a canary: the access
    log and the bucket cookie."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.port = free_port()
        self.log = stack.root / ".releases" / "serve" / "access.log"
        stack.write_main_conf(SITE.format(port=self.port, log=self.log))
        reload = [*stack.nginx_words(), "-c", str(stack.main_conf), "-s", "reload"]
        subprocess.run(reload, check=True, capture_output=True, timeout=60)
        stack.start_nginx  # noqa: B018 (nginx keeps running: reloaded with the new block)
        _wait_for(self.port)

    @property
    def root(self) -> DeployRoot:
        return DeployRoot(self.stack.root)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            visit(port, {})
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not take the new server block")


def visit(port: int, jar: dict[str, str], headers: dict[str, str] | None = None) -> str:
    """One page view of a visitor with cookie jar `jar`; the release that answered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        sent = dict(headers or {})
        if jar:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        conn.request("GET", "/", headers=sent)
        response = conn.getresponse()
        response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            jar[name] = rest.split(";")[0]
        return response.getheader("x-release") or ""
    finally:
        conn.close()


@pytest.fixture
def site(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with running_stack(tmp_path, cli) as s:
        monkeypatch.setenv("PM2_HOME", s.env()["PM2_HOME"])  # in-process pipeline calls
        yield Site(s)


def stage(cli: Cli, s: Stack) -> str:
    staged = cli("stage", "--root", str(s.root), "--source", str(s.source), env=s.env())
    assert staged.returncode == 0, staged.stderr
    return staged.stdout.split()[-1]


def start(site: Site, release_id: str, stable: str, stages: Stages) -> int:
    """The canary as `deploy --canary` starts it after staging; the watcher flock's fd."""
    live = live_options(config.load(site.root))
    # With serve.url, start waits until nginx's new workers set the bucket cookie.
    return canary.start(site.root, release_id, stable, stages, live, canary.utc_now, print)


def settings(site: Site, min_requests: int, interval: float) -> canary.Settings:
    cfg = config.load(site.root)
    analysis = cfg.analysis._replace(min_requests=min_requests, interval=interval)
    return canary.Settings(live_options(cfg), analysis, cfg.keep)


def events(site: Site) -> list[str]:
    return [e.name for e in read_history(site.root).events]


def test_a_canary_takes_a_sticky_share_and_abort_sends_everyone_back(cli: Cli, site: Site) -> None:
    """30% of visitors land on the canary and stay there; requests carrying a deployment id
    reach that build as before; `current` stays on the stable release. `releases abort` from
    another process sends every visitor back at once, marks the canary failed and records it."""
    s = site.stack
    a = deploy(cli, s)
    b = stage(cli, s)
    fd = start(site, b, a, ((30, 600.0),))
    try:
        assert current_id(s.root) == a
        jars: list[dict[str, str]] = [{} for _ in range(120)]
        seen = [{visit(site.port, jar) for _ in range(3)} for jar in jars]
        assert all(len(releases) == 1 for releases in seen), "a visitor saw two builds"
        on_canary = sum(releases == {b} for releases in seen)
        assert 12 <= on_canary <= 60, on_canary  # 30% of 120, loosely
        stayed = next(jar for jar, releases in zip(jars, seen, strict=True) if releases == {a})
        assert visit(site.port, stayed, {"x-deployment-id": b}) == b
        moved = next(jar for jar, releases in zip(jars, seen, strict=True) if releases == {b})
        assert visit(site.port, moved, {"x-deployment-id": a}) == a
        shown = cli("status", "--root", str(s.root), "--json", env=s.env())
        record = json.loads(shown.stdout)["canary"]
        assert (record["id"], record["stable"], record["share"]) == (b, a, 30)
        pruned = cli("prune", "--root", str(s.root), "--keep", "1", env=s.env())
        assert pruned.returncode == 0, pruned.stderr
        assert (s.root / "releases" / a).is_dir() and (s.root / "releases" / b).is_dir()

        aborted = cli("abort", "--root", str(s.root), env=s.env())
        assert aborted.returncode == 0, aborted.stderr
        assert f"all traffic is back on {a}" in aborted.stdout
    finally:
        os.close(fd)
    assert {visit(site.port, jar) for jar in jars} == {a}
    assert "canary" not in state(s)
    meta = read_meta(site.root, b)
    assert meta is not None and meta.status == "failed"
    names = events(site)
    assert (
        names[-1] == "canary_aborted" and "deploy_failed" in names[names.index("canary_started") :]
    )
    history = cli("history", "--root", str(s.root), env=s.env()).stdout
    assert "aborted" in history and "by hand" in history


def test_a_failing_canary_is_aborted_by_analysis(cli: Cli, site: Site) -> None:
    """A canary answering 500 is aborted by the watch once it has enough requests: Aborted
    (exit 12), all traffic on the stable release, the canary failed with its figures."""
    s = site.stack
    a = deploy(cli, s)
    # Healthy on its health path (it passes the start check), 500 on the pages visitors see.
    broken = APP_SERVER.replace("500 if BROKEN", '500 if BROKEN and self.path != "/health"')
    (s.source / "server.py").write_text(broken)
    (s.source / "BROKEN").write_text("")
    s.config(extra='health_path = "/health"\n')
    b = stage(cli, s)
    fd = start(site, b, a, ((50, 600.0),))
    stop = threading.Event()
    load = threading.Thread(target=_visitors, args=(site.port, stop), daemon=True)
    load.start()
    try:
        with pytest.raises(Aborted, match="aborted by analysis"):
            canary.watch(site.root, settings(site, min_requests=5, interval=0.2), b, print, print)
    finally:
        stop.set()
        load.join()
        os.close(fd)
    assert {visit(site.port, {}) for _ in range(10)} == {a}
    last = read_history(site.root).events[-1].payload
    assert isinstance(last, CanaryAborted) and last.automatic
    assert last.figures[b]["errors_5xx"] >= 5
    meta = read_meta(site.root, b)
    assert meta is not None and meta.status == "failed"


def test_a_healthy_canary_goes_through_its_stages_and_is_promoted(cli: Cli, site: Site) -> None:
    """Each stage passed moves to the next share; after the last the canary becomes live as
    a deploy's flip makes a release live (switch + deploy_finished), the stable one warm."""
    s = site.stack
    a = deploy(cli, s)
    b = stage(cli, s)
    fd = start(site, b, a, ((20, 0.5), (60, 0.5)))
    stop = threading.Event()
    load = threading.Thread(target=_visitors, args=(site.port, stop), daemon=True)
    load.start()
    try:
        ended = canary.watch(
            site.root, settings(site, min_requests=5, interval=0.2), b, print, print
        )
    finally:
        stop.set()
        load.join()
        os.close(fd)
    assert ended.outcome == "promoted"
    assert current_id(s.root) == b
    assert {visit(site.port, {}) for _ in range(10)} == {b}
    names = events(site)
    assert names.index("canary_share") < names.index("canary_promoted")
    assert names[-3:] == ["canary_promoted", "deploy_finished", "prune"] or names[-2:] == [
        "canary_promoted",
        "deploy_finished",
    ]
    assert "switch" in names[names.index("canary_share") :]
    assert state(s)["apps"][a]["until"] is not None  # type: ignore[index]


@pytest.mark.parametrize("command", ["reap", "up"])
def test_a_canary_whose_watcher_is_gone_is_aborted_by_recovery(
    cli: Cli, site: Site, command: str
) -> None:
    """The watcher flock released (a crash, a reboot): doctor and status say so, and the next
    blue-green command (the timer's `releases reap`, or `releases up` at boot) sends everyone
    back to the stable release, marks the canary failed and records why."""
    s = site.stack
    a = deploy(cli, s)
    b = stage(cli, s)
    os.close(start(site, b, a, ((50, 600.0),)))
    doctor = cli("doctor", "--root", str(s.root), "--json", env=s.env())
    assert doctor.returncode == 10, doctor.stderr
    (found,) = [f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "canary"]
    assert not found["ok"] and "no watcher owns it" in found["message"]
    assert "releases abort" in found["fix"]
    shown = cli("status", "--root", str(s.root), env=s.env()).stdout
    assert "no watcher owns it" in shown
    recovered = cli(command, "--root", str(s.root), env=s.env())
    assert recovered.returncode == 0, recovered.stderr
    assert "watcher is gone" in recovered.stdout + recovered.stderr
    assert "canary" not in state(s)
    assert {visit(site.port, {}) for _ in range(10)} == {a}
    (ended,) = [e.payload for e in read_history(site.root).events if e.name == "canary_aborted"]
    assert isinstance(ended, CanaryAborted) and ended.id == b and not ended.automatic
    listed = json.loads(cli("list", "--root", str(s.root), "--json", env=s.env()).stdout)
    (aborted,) = [r for r in listed["releases"] if r["id"] == b]
    assert aborted["status"] == "failed"  # never a rollback target that looks complete


@pytest.mark.real_process
@pytest.mark.parametrize("fault", ["serve_after_state", "serve_after_include"])
def test_a_deploy_killed_while_splitting_leaves_no_split_without_an_owner(
    cli: Cli, site: Site, fault: str
) -> None:
    """`deploy --canary` SIGKILLed between the serve state (with its canary record) and the
    reload: the next blue-green command applies the state, finds no watcher and aborts the
    canary, so nginx, the state and `current` agree on the stable release."""
    s = site.stack
    a = deploy(cli, s)
    args = ("deploy", "--root", str(s.root), "--source", str(s.source), "--canary", "50%")
    killed = cli(*args, env={**s.env(), "RELEASES_FAULT": fault})
    assert killed.returncode == -9, killed.stderr
    reaped = cli("reap", "--root", str(s.root), env=s.env())
    assert reaped.returncode == 0, reaped.stderr
    assert "canary" not in state(s) and state(s)["applied"] is True
    assert current_id(s.root) == a
    assert {visit(site.port, {}) for _ in range(10)} == {a}
    assert "canary_aborted" in events(site)


def test_promote_by_hand_makes_the_canary_live(cli: Cli, site: Site) -> None:
    """`releases promote --json` from another shell: the canary is live, `current` with it."""
    s = site.stack
    a = deploy(cli, s)
    b = stage(cli, s)
    fd = start(site, b, a, ((10, 600.0),))
    try:
        promoted = cli("promote", "--root", str(s.root), "--json", env=s.env())
    finally:
        os.close(fd)
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout)["id"] == b
    assert current_id(s.root) == b and s.served() == b
    again = cli("abort", "--root", str(s.root), env=s.env())
    assert again.returncode == 4 and "no canary runs" in again.stderr


def test_reload_mode_refuses_a_canary_before_building(cli: Cli, tmp_path: Path) -> None:
    """Without nginx there is no split: one line naming the fix, exit 3, nothing built."""
    root = tmp_path / "root"
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.html").write_text("v1\n")
    assert cli("init", "--root", str(root)).returncode == 0
    result = cli("deploy", "--root", str(root), "--source", str(source), "--canary", "10%")
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1 and 'mode = \\"blue-green\\"' not in result.stderr
    assert "blue-green" in result.stderr
    assert not any((root / "releases").iterdir())


def test_a_first_deploy_refuses_a_canary_before_building(cli: Cli, site: Site) -> None:
    """With nothing live there is no stable release to compare with: one line, exit 3,
    nothing built or started."""
    s = site.stack
    args = ("deploy", "--root", str(s.root), "--source", str(s.source), "--canary", "10%")
    result = cli(*args, env=s.env())
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1 and "needs a live release" in result.stderr
    assert not any((s.root / "releases").iterdir())


def _visitors(port: int, stop: threading.Event) -> None:
    """New visitors one after another (each its own cookie jar) until `stop`."""
    while not stop.is_set():
        with contextlib.suppress(OSError):
            visit(port, {})


FAST = "[analysis]\nmin_requests = 5\ninterval = 0.2\n"


def analysis_config(s: Stack, extra: str = "") -> None:
    """Blue-green with the fast analysis settings the decision tests use."""
    s.config(extra=extra)
    with (s.root / "releases.toml").open("a") as toml:
        toml.write(FAST)


@pytest.mark.real_process
def test_deploy_with_canary_stages_watches_then_promotes(cli: Cli, site: Site) -> None:
    """`deploy --canary "30%:1s,60%:1s"` under load: the deploy shows the live counts as plain
    lines (not a terminal), moves through both stages and ends with the canary live."""
    s = site.stack
    a = deploy(cli, s)
    analysis_config(s)
    stop = threading.Event()
    load = threading.Thread(target=_visitors, args=(site.port, stop), daemon=True)
    load.start()
    try:
        result = cli(
            "deploy",
            "--root",
            str(s.root),
            "--source",
            str(s.source),
            "--canary",
            "30%:1s,60%:1s",
            env=s.env(),
        )
    finally:
        stop.set()
        load.join()
    assert result.returncode == 0, result.stderr
    b = current_id(s.root)
    assert b != a and s.served() == b
    assert "canary 30% stage 1/2" in result.stdout and "canary 60% stage 2/2" in result.stdout
    assert "through a canary: promoted" in result.stdout


@pytest.mark.real_process
def test_a_detached_watcher_aborts_a_failing_canary(cli: Cli, site: Site) -> None:
    """`deploy --canary 50% --detach` returns once the canary runs; the watcher it leaves (its
    own session, its log under .releases/serve/) aborts the failing canary and ends."""
    s = site.stack
    a = deploy(cli, s)
    broken = APP_SERVER.replace("500 if BROKEN", '500 if BROKEN and self.path != "/health"')
    (s.source / "server.py").write_text(broken)
    (s.source / "BROKEN").write_text("")
    analysis_config(s, 'health_path = "/health"\n')
    env = s.env()
    args = ("deploy", "--root", str(s.root), "--source", str(s.source))
    result = cli(*args, "--canary", "50%", "--detach", env=env)
    assert result.returncode == 0, result.stderr
    assert "a detached watcher promotes or aborts it" in result.stdout
    assert current_id(s.root) == a
    status = json.loads(cli("status", "--root", str(s.root), "--json", env=s.env()).stdout)
    assert status["canary"]["watched"] is True
    stop = threading.Event()
    load = threading.Thread(target=_visitors, args=(site.port, stop), daemon=True)
    load.start()
    try:
        deadline = time.monotonic() + 60
        while "canary_aborted" not in events(site) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        load.join()
    log = (s.root / ".releases" / "serve" / "watcher.log").read_text()
    assert "canary_aborted" in events(site), log
    assert "aborted by analysis" in log
    assert {visit(site.port, {}) for _ in range(10)} == {a}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _watcher_gone(s):
        time.sleep(0.1)
    assert _watcher_gone(s), "the watcher is still running"


def test_a_new_canary_right_after_a_promotion_by_hand_waits_for_the_old_watcher(
    cli: Cli, site: Site
) -> None:
    """`deploy --canary --detach`, `promote`, and at once the next `deploy --canary --detach`:
    the old detached watcher still holds its lock until its next look at the log (every
    [analysis] interval, 5 s by default); the new deploy waits for it to let go instead of
    failing after its build. Then `abort` ends the second canary and no watcher is left."""
    s = site.stack
    a = deploy(cli, s)
    env = s.env()
    args = ("deploy", "--root", str(s.root), "--source", str(s.source), "--canary", "10%")
    first = cli(*args, "--detach", env=env)
    assert first.returncode == 0, first.stderr
    promoted = cli("promote", "--root", str(s.root), env=env)
    assert promoted.returncode == 0, promoted.stderr
    b = current_id(s.root)
    assert b != a
    second = cli(*args, "--detach", env=env)
    assert second.returncode == 0, second.stderr
    assert current_id(s.root) == b
    aborted = cli("abort", "--root", str(s.root), env=env)
    assert aborted.returncode == 0, aborted.stderr
    assert current_id(s.root) == b and s.served() == b
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _watcher_gone(s):
        time.sleep(0.1)
    assert _watcher_gone(s), "a watcher is still running"


def _watcher_gone(s: Stack) -> bool:
    """No live process holds the watcher flock any more."""
    from releases_cli.serving import owner

    return not owner.watched(DeployRoot(s.root))


@pytest.mark.real_process
def test_the_watch_after_a_blue_green_flip_switches_back_a_failing_release(
    cli: Cli, site: Site
) -> None:
    """`deploy --watch 30s` of a release answering 500 on its pages (healthy on its health
    path): the access log since the flip judged against the previous release's figures before
    it fails it; nginx and `current` go back to the previous release (still warm: no
    restart), exit 12, watch_failed recorded."""
    s = site.stack
    broken = APP_SERVER.replace("500 if BROKEN", '500 if BROKEN and self.path != "/health"')
    (s.source / "server.py").write_text(broken)
    analysis_config(s, 'health_path = "/health"\n')
    a = deploy(cli, s)
    stop = threading.Event()
    load = threading.Thread(target=_visitors, args=(site.port, stop), daemon=True)
    load.start()
    try:
        time.sleep(1)  # the previous release's figures before the flip
        (s.source / "BROKEN").write_text("")
        args = ("deploy", "--root", str(s.root), "--source", str(s.source), "--watch", "30s")
        result = cli(*args, env=s.env())
    finally:
        stop.set()
        load.join()
    assert result.returncode == 12, result.stderr
    assert f"switched back to {a}" in result.stderr
    assert current_id(s.root) == a and s.served() == a
    names = events(site)
    assert names[-1] == "switch" and "watch_failed" in names


def test_the_server_block_releases_nginx_prints_passes_nginx_with_and_without_a_canary(
    cli: Cli, site: Site
) -> None:
    """The printed server block (with the bucket cookie's Set-Cookie) is valid beside the
    generated include, before a canary (an empty cookie variable) and during one."""
    s = site.stack
    printed = cli("nginx", "--root", str(s.root), env=s.env())
    assert printed.returncode == 0, printed.stderr
    server = printed.stdout[printed.stdout.index("server {") :]
    assert "add_header Set-Cookie $t_canary_cookie always;" in server
    server = server.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
    test = [*s.nginx_words(), "-t", "-q", "-c", str(s.main_conf)]

    def accepted() -> bool:
        s.write_main_conf(SITE.format(port=site.port, log=site.log) + server)
        done = subprocess.run(test, check=False, capture_output=True, timeout=60)
        return done.returncode == 0

    assert accepted()
    a = deploy(cli, s)
    fd = start(site, stage(cli, s), a, ((10, 600.0),))
    try:
        assert accepted()
    finally:
        os.close(fd)


def test_a_server_block_without_the_cookie_line_refuses_the_canary(cli: Cli, site: Site) -> None:
    """Without the `Set-Cookie` line at serve.url the split could not be sticky: the canary is
    undone at once (every visitor on the stable release), one line names the fix, exit 3."""
    s = site.stack
    a = deploy(cli, s)
    conf = s.main_conf.read_text().replace("add_header Set-Cookie $t_canary_cookie always;", "")
    s.main_conf.write_text(conf)
    reload = [*s.nginx_words(), "-c", str(s.main_conf), "-s", "reload"]
    subprocess.run(reload, check=True, capture_output=True, timeout=60)
    args = ("deploy", "--root", str(s.root), "--source", str(s.source), "--canary", "10%")
    result = cli(*args, env=s.env())
    assert result.returncode == 3, result.stderr
    assert "does not set the canary's cookie rl_t" in result.stderr
    assert "releases nginx" in result.stderr
    assert current_id(s.root) == a and "canary" not in state(s)
    assert {visit(site.port, {}) for _ in range(10)} == {a}


def test_a_promotion_by_hand_is_watched_and_switched_back(cli: Cli, site: Site) -> None:
    """With [serve] watch, `releases promote` of a canary whose pages answer 500 is judged
    after its flip like a deploy: switched back to the stable release (warm), exit 12."""
    s = site.stack
    broken = APP_SERVER.replace("500 if BROKEN", '500 if BROKEN and self.path != "/health"')
    (s.source / "server.py").write_text(broken)
    analysis_config(s, 'health_path = "/health"\nwatch = "30s"\n')
    a = deploy(cli, s)
    (s.source / "BROKEN").write_text("")
    b = stage(cli, s)
    fd = start(site, b, a, ((10, 600.0),))
    stop = threading.Event()
    load = threading.Thread(target=_visitors, args=(site.port, stop), daemon=True)
    load.start()
    try:
        time.sleep(1)  # the stable release's figures before the flip
        promoted = cli("promote", "--root", str(s.root), env=s.env())
    finally:
        stop.set()
        load.join()
        os.close(fd)
    assert promoted.returncode == 12, promoted.stderr
    assert f"switched back to {a}" in promoted.stderr
    assert current_id(s.root) == a and s.served() == a
    names = events(site)
    assert names.index("canary_promoted") < names.index("watch_failed") < len(names)
