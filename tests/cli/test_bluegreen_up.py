"""After a reboot (PM2 killed and resurrected: nothing of ours comes back, releases never runs
`pm2 save`), `releases up` and its boot hook bring back the live app and the warm ones from the
serve state, with a real PM2 and nginx (tests/bgstack.py); doctor reports the outage, every
blue-green command repairs it first; status/list --json carry the serving data; a flip
reloads nginx once."""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bgstack import Stack, apps, boot_hook, deploy, get, reboot, run_hook, state
from helpers import Cli, current_id
from jsonshapes import problems

from releases_cli.cli.render import ListJson, StatusJson


def pid(port: int) -> str:
    return get(port)[2].split()[1]


def test_after_a_reboot_the_boot_hook_brings_the_site_back(cli: Cli, stack: Stack) -> None:
    """Deploy A then B (A warm); PM2 killed and resurrected: nginx answers 502, status says
    not in PM2, doctor exits 10 naming `releases up`. The boot hook's command (run as the
    printed unit runs it, twice at once) starts B and A again, once each, on their ports
    without reloading nginx; B is served, A's deployment id still reaches A; doctor is clean;
    a later run changes nothing."""
    stack.count_reloads()
    a = deploy(cli, stack)
    b = deploy(cli, stack)
    reboot(stack)
    shown = cli("status", "--root", str(stack.root), env=stack.env()).stdout
    assert f"serve: {b} live on 127.0.0.1:" in shown and "not in PM2" in shown
    sick = cli("doctor", "--root", str(stack.root), env=stack.env())
    assert sick.returncode == 10
    assert f"t-{b} is not in PM2" in sick.stdout and "releases up --root" in sick.stdout

    command, env, cron = boot_hook(cli, stack)
    assert env["PM2_HOME"] == stack.env()["PM2_HOME"] and f"--root {stack.root}" in cron
    before = stack.reloads()
    with ThreadPoolExecutor(2) as pool:  # a boot and an admin at once: the lock orders them
        results = list(pool.map(lambda _: run_hook(command, env), range(2)))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"up: {b} live on 127.0.0.1:{apps(stack)[b]['port']}; warm: {a}\n"
    assert stack.served() == b and stack.served({"x-deployment-id": a}) == a
    assert sorted(stack.pm2_list()) == sorted([f"t-{a}", f"t-{b}"])  # each started once
    assert stack.reloads() == before  # same ports: nginx already routes there
    ok = cli("doctor", "--root", str(stack.root), env=stack.env())
    assert ok.returncode == 0, ok.stdout

    pids = {rid: pid(int(str(e["port"]))) for rid, e in apps(stack).items()}
    again = run_hook(command, env)
    assert again.returncode == 0, again.stderr
    assert {rid: pid(int(str(e["port"]))) for rid, e in apps(stack).items()} == pids
    assert stack.reloads() == before


@pytest.mark.parametrize("killed", [False, True], ids=["straight", "killed-after-start"])
def test_up_moves_an_app_whose_port_was_taken(cli: Cli, stack: Stack, killed: bool) -> None:
    """After a reboot something else listens on the live app's port: `up` starts the app on
    another free port of serve.ports, records it and routes nginx there (one reload). Killed
    (SIGKILL) right after that start, the next `up` finishes it: one app, nginx routed to it."""
    stack.count_reloads()
    live = deploy(cli, stack)
    old_port = int(str(apps(stack)[live]["port"]))
    reboot(stack)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        before = stack.reloads()
        if killed:
            env = {**stack.env(), "RELEASES_FAULT": "serve_after_revive"}
            dead = cli("up", "--root", str(stack.root), env=env)
            assert dead.returncode == -9, dead.stderr
        result = cli("up", "--root", str(stack.root), env=stack.env())
        assert result.returncode == 0, result.stderr
        new_port = int(str(apps(stack)[live]["port"]))
        assert new_port != old_port
        assert stack.served() == live and stack.reloads() == before + 1
        assert stack.pm2_list() == [f"t-{live}"]


def test_blue_green_commands_repair_a_missing_live_app_first(cli: Cli, stack: Stack) -> None:
    """After a reboot without `up`: `preview` of the live release brings it back on its port
    and it stays live (status: no stop time, in --json too); a rollback starts the warm
    target it needs and flips to it."""
    a = deploy(cli, stack)
    b = deploy(cli, stack)
    reboot(stack)
    result = cli("preview", b, "--root", str(stack.root), env=stack.env())
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"http://127.0.0.1:{apps(stack)[b]['port']}/\n"
    assert stack.served() == b and state(stack)["live"] == b
    assert apps(stack)[b]["until"] is None and apps(stack)[b]["routed"] is True
    shown = cli("status", "--root", str(stack.root), env=stack.env()).stdout
    (line,) = [x for x in shown.splitlines() if x.startswith(f"serve: {b} ")]
    assert "live" in line and "stops" not in line

    reboot(stack)
    rolled = cli("rollback", "--root", str(stack.root), env=stack.env())
    assert rolled.returncode == 0, rolled.stderr
    assert stack.served() == a == current_id(stack.root)


def test_status_and_list_json_carry_the_serving_data(cli: Cli, stack: Stack) -> None:
    """status --json and list --json list each app: role, port, PM2 status, instances online,
    memory and when a warm one stops; after a reboot the live one has no PM2 status."""
    a = deploy(cli, stack)
    b = deploy(cli, stack)
    status = json.loads(cli("status", "--root", str(stack.root), "--json", env=stack.env()).stdout)
    listed = json.loads(cli("list", "--root", str(stack.root), "--json", env=stack.env()).stdout)
    assert problems(status, StatusJson) == [] and problems(listed, ListJson) == []
    assert [(x["id"], x["role"]) for x in listed["serving"]] == [(a, "warm"), (b, "live")]
    by_id = {app["id"]: app for app in status["serving"]}
    assert by_id[b]["role"] == "live" and by_id[b]["stops_at"] is None
    assert by_id[b]["pm2_status"] == "online" and by_id[b]["online"] == 1
    assert by_id[b]["memory"] > 0 and by_id[b]["port"] == apps(stack)[b]["port"]
    assert by_id[a]["role"] == "warm" and by_id[a]["stops_at"] == apps(stack)[a]["until"]
    assert 14 * 60 < by_id[a]["stops_in_seconds"] <= 15 * 60
    reboot(stack)
    after = json.loads(cli("status", "--root", str(stack.root), "--json", env=stack.env()).stdout)
    assert {app["id"]: app["pm2_status"] for app in after["serving"]} == {a: None, b: None}


def test_a_flip_reloads_nginx_once_also_with_grace_zero(cli: Cli, stack: Stack) -> None:
    """A deploy's flip is one nginx reload; with grace 0 the previous app leaves the include
    in that same change (then drained and stopped), so still one reload; a warm rollback is
    one reload too."""
    stack.count_reloads()
    a = deploy(cli, stack)
    before = stack.reloads()
    b = deploy(cli, stack)
    assert stack.reloads() == before + 1
    assert cli("rollback", "--root", str(stack.root), env=stack.env()).returncode == 0
    assert stack.reloads() == before + 2 and current_id(stack.root) == a

    stack.count_reloads(grace="0")
    before = stack.reloads()
    c = deploy(cli, stack)
    assert stack.reloads() == before + 1
    assert set(apps(stack)) == {b, c} and stack.pm2_names() == {f"t-{b}", f"t-{c}"}
    assert stack.served({"x-deployment-id": a}) == c  # a is no longer routed


def test_status_and_doctor_never_start_pm2_and_reap_repairs(cli: Cli, stack: Stack) -> None:
    """PM2 killed and not started again: status, list --json and doctor say so (doctor exit
    10) without starting a PM2 daemon; then `releases reap`, like every blue-green command,
    starts the live app before its own work, and the site serves again."""
    live = deploy(cli, stack)
    assert stack.pm2_run("kill").returncode == 0
    pid_file = Path(stack.env()["PM2_HOME"]) / "pm2.pid"
    shown = cli("status", "--root", str(stack.root), env=stack.env()).stdout
    assert f"serve: {live} live on 127.0.0.1:" in shown and "not in PM2" in shown
    sick = cli("doctor", "--root", str(stack.root), env=stack.env())
    assert sick.returncode == 10 and "PM2 is not running" in sick.stdout
    listed = cli("list", "--root", str(stack.root), "--json", env=stack.env())
    assert json.loads(listed.stdout)["serving"][0]["pm2_status"] is None
    assert not pid_file.exists()
    assert get(stack.port)[0] == 502
    reaped = cli("reap", "--root", str(stack.root), env=stack.env())
    assert reaped.returncode == 0, reaped.stderr
    assert stack.served() == live, reaped.stderr
    assert stack.pm2_names() == {f"t-{live}"}
