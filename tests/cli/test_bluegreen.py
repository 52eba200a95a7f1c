"""Blue-green serving with a real PM2 and a real nginx (tests/bgstack.py): each release its own
app on its own port, health-checked there before nginx and `current` flip together; the
previous release warm for the grace, then drained and stopped; rollback to a warm release
without a restart; failures and crashes leave nginx and `current` agreeing."""

from __future__ import annotations

import json
import os

import pytest
from bgstack import Stack, apps, deploy, get, state
from helpers import Cli, current_id, later_id

from releases_cli.serving.nginx import quoted


def deploy_killed_at(cli: Cli, s: Stack, fault: str) -> None:
    """A deploy SIGKILLed at fault point `fault` (a real process: the fault kills it)."""
    env = {**s.env(), "RELEASES_FAULT": fault}
    result = cli("deploy", "--root", str(s.root), "--source", str(s.source), env=env)
    assert result.returncode == -9, result.stderr


def test_deploy_deploy_rollback_to_the_warm_release(cli: Cli, stack: Stack) -> None:
    """Deploy A, deploy B: nginx serves B, A stays warm on its port and requests carrying A's
    deployment id (header or ?dpl=) still reach A; rollback flips back to the same A process
    (same port and pid: no restart), and B is now the warm one."""
    a = deploy(cli, stack)
    assert stack.served() == a
    b = deploy(cli, stack)
    assert stack.served() == b
    assert current_id(stack.root) == b
    assert set(apps(stack)) == {a, b}
    assert apps(stack)[a]["until"] is not None and apps(stack)[b]["until"] is None
    assert stack.served({"x-deployment-id": a}) == a
    assert get(stack.port, f"/?dpl={a}")[1] == a
    assert stack.served({"x-deployment-id": "20990101T000000Z"}) == b  # unknown id: live
    for command in ("status", "list"):
        shown = cli(command, "--root", str(stack.root), env=stack.env()).stdout
        assert f"serve: {b} live on 127.0.0.1:" in shown
        assert f"serve: {a} warm on 127.0.0.1:" in shown and "stops in 14m" in shown
    port_a = int(str(apps(stack)[a]["port"]))
    pid_a = get(port_a)[2].split()[1]

    result = cli("rollback", "--root", str(stack.root), env=stack.env())
    assert result.returncode == 0, result.stderr
    assert current_id(stack.root) == a
    assert stack.served() == a
    assert get(port_a)[2].split()[1] == pid_a, "a warm rollback must not restart the app"
    assert apps(stack)[b]["until"] is not None and apps(stack)[a]["until"] is None
    assert {f"t-{a}", f"t-{b}"} <= stack.pm2_names()


def test_grace_zero_drains_and_stops_the_previous_app(cli: Cli, stack: Stack) -> None:
    """With grace 0 the previous release's app is dropped from nginx, drained and deleted
    from PM2 by the deploy that replaced it; the history says so; a rollback to it then
    starts it cold and serves it."""
    stack.config(grace="0")
    a = deploy(cli, stack)
    b = deploy(cli, stack)
    assert set(apps(stack)) == {b}
    assert f"t-{a}" not in stack.pm2_names()
    history = (stack.root / ".releases" / "history.jsonl").read_text()
    assert '"event": "app_stopped"' in history
    result = cli("rollback", "--root", str(stack.root), env=stack.env())
    assert result.returncode == 0, result.stderr
    assert stack.served() == a == current_id(stack.root)


def test_reap_stops_warm_apps_after_their_grace(cli: Cli, stack: Stack) -> None:
    """`releases reap` (for a timer) stops a warm app whose grace is over, and a PM2 app of
    ours that no release in the state owns; the live one keeps serving."""
    stack.config(grace="1s")
    a = deploy(cli, stack)
    b = deploy(cli, stack)
    assert a in apps(stack)
    import time

    time.sleep(1.2)  # past the one-second grace (not a timing assertion: a precondition)
    result = cli("reap", "--root", str(stack.root), env=stack.env())
    assert result.returncode == 0, result.stderr
    assert set(apps(stack)) == {b}
    assert stack.pm2_names() == {f"t-{b}"}
    assert stack.served() == b


def test_reap_touches_only_apps_releases_started(cli: Cli, stack: Stack) -> None:
    """Reap (run every minute from cron) deletes an orphan app of ours (named `<app>-<id>`,
    marked with this root; or, started before apps were marked, unmarked and running in this
    root's releases/<id>) but never another app in the same PM2: one that merely shares the
    prefix, one of our exact name shape without the marker, one marked for another root."""
    stack.config(grace="1s")
    a = deploy(cli, stack)
    b = deploy(cli, stack)
    foreign = {"t-worker", "t-cron", "t-20260101T000000Z", "t-20260101T000001Z"}
    for name in ("t-worker", "t-cron", "t-20260101T000000Z"):
        stack.start_other_app(name)
    stack.start_other_app("t-20260101T000001Z", {"RELEASES_OWNER": str(stack.work / "other")})
    stack.start_other_app("t-20250101T000000Z", {"RELEASES_OWNER": str(stack.root)})
    legacy = stack.root / "releases" / "20240101T000000Z"
    legacy.mkdir()
    stack.start_other_app(f"t-{legacy.name}", cwd=legacy)
    import time

    time.sleep(1.2)  # past the one-second grace (not a timing assertion: a precondition)
    result = cli("reap", "--root", str(stack.root), env=stack.env())
    assert result.returncode == 0, result.stderr
    assert "stopped 3 app(s)" in result.stderr and "20250101T000000Z" in result.stderr
    assert legacy.name in result.stderr
    assert stack.pm2_names() == {f"t-{b}"} | foreign
    assert a not in apps(stack) and stack.served() == b
    shown = cli("status", "--root", str(stack.root), env=stack.env()).stdout
    assert "20260101T" not in shown


def test_a_root_spelled_through_a_symlink_owns_its_apps(cli: Cli, stack: Stack) -> None:
    """Apps deployed through a symlink to the root (`--root /srv/link`, or cd'ing there) are
    the same root's as apps deployed through its real path: reap stops them after their grace
    (never "not started by releases"), and doctor counts an unmarked app running in the
    root's releases/<id> (started before apps were marked) as ours, not as a misconfigured one."""
    link = stack.work / "link"
    link.symlink_to(stack.root)
    stack.config(grace="1s")
    env = stack.env()
    for _ in range(2):
        done = cli("deploy", "--root", str(link), "--source", str(stack.source), env=env)
        assert done.returncode == 0, done.stderr
    live = current_id(stack.root)
    import time

    time.sleep(1.2)  # past the one-second grace (not a timing assertion: a precondition)
    reaped = cli("reap", "--root", str(stack.root), env=env)
    assert reaped.returncode == 0, reaped.stderr
    assert "stopped 1 app(s)" in reaped.stderr and "left alone" not in reaped.stderr
    assert stack.pm2_names() == {f"t-{live}"}
    legacy = stack.root / "releases" / "20240101T000000Z"
    legacy.mkdir()
    stack.start_other_app(f"t-{legacy.name}", cwd=legacy)
    doctor = cli("doctor", "--root", str(link), "--json", env=env)
    pm2 = [f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "pm2"]
    assert pm2 and all(f["ok"] for f in pm2), pm2


def test_unhealthy_release_is_never_flipped_to(cli: Cli, stack: Stack) -> None:
    """A release whose app answers 500 on its own port fails the deploy (exit 9): nginx and
    `current` still serve the previous release, its app is deleted from PM2, it is marked
    failed."""
    a = deploy(cli, stack)
    (stack.source / "BROKEN").write_text("yes\n")
    result = cli(
        "deploy", "--root", str(stack.root), "--source", str(stack.source), env=stack.env()
    )
    assert result.returncode == 9, result.stderr
    assert "nothing was flipped" in result.stderr
    assert current_id(stack.root) == a
    assert stack.served() == a
    assert set(apps(stack)) == {a}
    assert stack.pm2_names() == {f"t-{a}"}
    listed = cli("list", "--root", str(stack.root), "--json")
    failed = [r for r in json.loads(listed.stdout)["releases"] if r["status"] == "failed"]
    assert len(failed) == 1


def test_a_rejected_include_changes_nothing(cli: Cli, stack: Stack) -> None:
    """When nginx -t rejects the new include (here: the main config already defines the
    upstream name the new release needs), the switch fails with exit 3 and the include on disk,
    `current` and what nginx serves are unchanged."""
    a = deploy(cli, stack)
    new_id = later_id()
    stack.stop_nginx_for_reconfig = None  # type: ignore[attr-defined]
    stack.main_conf.write_text(
        stack.main_conf.read_text().replace(
            "    include", f"    upstream t_{new_id} {{ server 127.0.0.1:9; }}\n    include", 1
        )
    )
    staged = cli(
        "stage",
        "--root",
        str(stack.root),
        "--source",
        str(stack.source),
        "--id",
        new_id,
        env=stack.env(),
    )
    assert staged.returncode == 0, staged.stderr
    include_before = stack.include.read_bytes()
    result = cli("switch", new_id, "--root", str(stack.root), env=stack.env())
    assert result.returncode == 3, result.stderr
    assert "nginx rejected the new include" in result.stderr
    assert stack.include.read_bytes() == include_before
    assert current_id(stack.root) == a
    assert stack.served() == a


@pytest.mark.parametrize(
    "fault", ["serve_after_state", "serve_after_include", "serve_after_current"]
)
def test_crash_during_the_flip_recovers_to_agreement(cli: Cli, stack: Stack, fault: str) -> None:
    """SIGKILL at each step of the flip; the next command (`reap`) makes state, include,
    nginx and `current` agree: nginx serves exactly the release `current` names."""
    deploy(cli, stack)
    deploy_killed_at(cli, stack, fault)
    recovered = cli("reap", "--root", str(stack.root), env=stack.env())
    assert recovered.returncode == 0, recovered.stderr
    live = current_id(stack.root)
    assert state(stack)["live"] == live and state(stack)["applied"] is True
    assert f"live {live}" in stack.include.read_text().splitlines()[0]
    assert stack.served() == live


@pytest.mark.parametrize("fault", ["serve_after_state", "serve_after_current"])
def test_crash_during_a_rollback_recovers_to_agreement(cli: Cli, stack: Stack, fault: str) -> None:
    """SIGKILL in the middle of a warm rollback's flip: afterwards nginx serves exactly the
    release `current` names (the other one, if the crash left it half-routed, is stopped), and
    a rollback to the other release then works, warm or cold."""
    deploy(cli, stack)
    deploy(cli, stack)
    result = cli(
        "rollback", "--root", str(stack.root), env={**stack.env(), "RELEASES_FAULT": fault}
    )
    assert result.returncode == -9, result.stderr
    assert cli("reap", "--root", str(stack.root), env=stack.env()).returncode == 0
    live = current_id(stack.root)
    assert state(stack)["live"] == live and stack.served() == live
    other = next(rid for rid in os.listdir(stack.root / "releases") if rid != live)
    again = cli("rollback", "--to", other, "--root", str(stack.root), env=stack.env())
    assert again.returncode == 0, again.stderr
    assert stack.served() == other == current_id(stack.root)


def test_crash_after_starting_an_app_leaves_no_app_behind(cli: Cli, stack: Stack) -> None:
    """SIGKILL right after `pm2 start` of the new release (before its check and the flip):
    nothing was flipped, and the next command stops that app (it was in the state, expiring at
    once), so no app runs that no release owns."""
    a = deploy(cli, stack)
    deploy_killed_at(cli, stack, "serve_after_start")
    assert current_id(stack.root) == a and stack.served() == a
    assert cli("reap", "--root", str(stack.root), env=stack.env()).returncode == 0
    assert set(apps(stack)) == {a}
    assert stack.pm2_names() == {f"t-{a}"}


def test_crash_while_draining_finishes_the_stop(cli: Cli, stack: Stack) -> None:
    """SIGKILL after an expired app was dropped from nginx but before it was stopped: the next
    reap stops it; the live release keeps serving throughout."""
    stack.config(grace="0")
    a = deploy(cli, stack)
    deploy_killed_at(cli, stack, "serve_after_drain")
    b = current_id(stack.root)
    assert b != a and stack.served() == b
    assert cli("reap", "--root", str(stack.root), env=stack.env()).returncode == 0
    assert set(apps(stack)) == {b}
    assert stack.pm2_names() == {f"t-{b}"}


def test_prune_keeps_warm_releases(cli: Cli, stack: Stack) -> None:
    """A release whose app is warm is never pruned, even beyond keep and not the rollback
    target; once its app is stopped it may go."""
    a = deploy(cli, stack)
    deploy(cli, stack)
    deploy(cli, stack, "--keep", "1")
    assert (stack.root / "releases" / a).is_dir()
    listed = cli("prune", "--root", str(stack.root), "--keep", "1", "--dry-run")
    assert f"kept {a} (blue-green app on port" in listed.stdout


def test_preview_starts_a_staged_release_without_routing_it(cli: Cli, stack: Stack) -> None:
    """`releases preview ID` starts a staged release's app on its own port and prints its URL;
    nginx keeps serving the live release; a later switch reuses that app."""
    a = deploy(cli, stack)
    staged = cli("stage", "--root", str(stack.root), "--source", str(stack.source), env=stack.env())
    new_id = staged.stdout.split()[-1]
    result = cli("preview", new_id, "--root", str(stack.root), env=stack.env())
    assert result.returncode == 0, result.stderr
    port = int(result.stdout.strip().rsplit(":", 1)[1].strip("/"))
    assert stack.served(port=port) == new_id
    assert stack.served() == a
    pid = get(port)[2].split()[1]
    switched = cli("switch", new_id, "--root", str(stack.root), env=stack.env())
    assert switched.returncode == 0, switched.stderr
    assert stack.served() == new_id, switched.stderr
    assert get(port)[2].split()[1] == pid


def test_the_callers_environment_does_not_reach_the_app(cli: Cli, stack: Stack) -> None:
    """PM2 runs with a minimal environment: a variable of the deploying shell is not in the
    app's environment; serve.env is."""
    stack.config(extra='env = { SHOP_MODE = "prod" }\n')
    a = deploy(cli, stack)
    os.environ.get("PATH")
    result = cli(
        "deploy",
        "--root",
        str(stack.root),
        "--source",
        str(stack.source),
        "--force",
        env={**stack.env(), "DEPLOYER_SECRET": "leak"},
    )
    assert result.returncode == 0, result.stderr
    assert current_id(stack.root) != a
    assert get(stack.port, "/env?DEPLOYER_SECRET")[2] == "no"
    assert get(stack.port, "/env?SHOP_MODE")[2] == "yes"


def test_doctor_checks_that_nginx_includes_the_include(cli: Cli, stack: Stack) -> None:
    """doctor passes the blue-green apps (they run from their release by design) and reports,
    exit 10, a main nginx config that does not include the generated include."""
    printed = cli("nginx", "--root", str(stack.root))  # the block the stack's config mirrors
    assert "proxy_pass http://$t_upstream;" in printed.stdout
    deploy(cli, stack)
    ok = cli("doctor", "--root", str(stack.root), env=stack.env())
    assert ok.returncode == 0, ok.stdout
    assert f"includes {stack.include}" in ok.stdout
    stack.main_conf.write_text(stack.main_conf.read_text().replace("include", "# include", 1))
    bad = cli("doctor", "--root", str(stack.root), env=stack.env())
    assert bad.returncode == 10
    assert f"has no `include {stack.include};`" in bad.stdout


def test_an_include_moved_out_of_the_main_config_refuses_the_switch(cli: Cli, stack: Stack) -> None:
    """The include line moved into a file the http block includes (nginx itself accepts that,
    but the test copy of the main config would not test the new include): the switch is
    refused before anything changes, exit 3, naming that file and the fix; nginx serves the
    live release as before."""
    a = deploy(cli, stack)
    line = f"include {stack.include};"
    site = stack.main_conf.with_name("site.conf")
    site.write_text(line + "\n")
    main = stack.main_conf.read_text()
    written = f"include {quoted(str(stack.include))};"  # as bgstack writes it
    assert written in main
    stack.main_conf.write_text(main.replace(written, f"include {site};"))
    new_id = later_id()
    args = ["--root", str(stack.root), "--source", str(stack.source), "--id", new_id]
    assert cli("stage", *args, env=stack.env()).returncode == 0
    include_before = stack.include.read_bytes()
    result = cli("switch", new_id, "--root", str(stack.root), env=stack.env())
    assert result.returncode == 3, result.stderr
    assert f"`{line}` is in {site}, not in {stack.main_conf}" in result.stderr
    assert "inside the `http { }` block" in result.stderr
    assert stack.include.read_bytes() == include_before
    assert current_id(stack.root) == a
    assert stack.served() == a
