"""The example playbooks (examples/ansible/) run by real `ansible-playbook` against three hosts on
this machine (local connection, one deploy root each in tmp_path), calling this checkout's CLI."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import REPO, run_cli, write_launcher

from releases_cli.core.layout import DeployRoot
from releases_cli.core.state import snapshot
from releases_cli.pipelines import fleet as twophase
from releases_cli.pipelines.deploy import DeployOptions
from releases_cli.sources.local import LocalSource

PLAYBOOKS = REPO / "examples" / "ansible"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
HOSTS = ("web1", "web2", "web3")


@dataclass(frozen=True)
class Fleet:
    """Three deploy roots, an inventory pointing at them, and `app`: the code every host deploys."""

    base: Path
    app: Path

    def root(self, host: str) -> Path:
        return self.base / host

    def playbook(self, name: str, **extra_vars: object) -> subprocess.CompletedProcess[str]:
        """Run examples/ansible/NAME with `-e` extra vars; output kept for assertion messages."""
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")},
            "LC_ALL": "C.UTF-8",
            "ANSIBLE_HOME": str(self.base / ".ansible"),
            "ANSIBLE_LOCAL_TEMP": str(self.base / ".ansible" / "tmp"),
            "ANSIBLE_REMOTE_TMP": str(self.base / ".ansible" / "remote"),
            "ANSIBLE_PIPELINING": "1",
            "ANSIBLE_FORKS": "5",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
        }
        return subprocess.run(
            [
                str(ANSIBLE_PLAYBOOK),
                "-i",
                str(self.base / "inventory.ini"),
                "-e",
                json.dumps(extra_vars),
                str(PLAYBOOKS / name),
            ],
            cwd=self.base,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def current(self, host: str) -> str | None:
        link = self.root(host) / "current"
        return os.readlink(link).split("/")[-1] if link.is_symlink() else None

    def currents(self) -> list[str | None]:
        return [self.current(host) for host in HOSTS]

    def listing(self, host: str) -> dict[str, str]:
        """id -> status, as `releases list` shows it."""
        snap = snapshot(DeployRoot(self.root(host)))
        return {r.id: snap.display_status(r) for r in snap.releases}

    def switches(self, host: str) -> list[tuple[str, str]]:
        """(release id, reason) of every switch of `current` on the host, oldest first."""
        history = self.root(host) / ".releases" / "history.jsonl"
        events = [json.loads(line) for line in history.read_text().splitlines()]
        return [(e["id"], e["reason"]) for e in events if e["event"] == "switch"]

    def deploy_directly(self, release_id: str) -> None:
        """Put `release_id` live on every host through the library (a faster set-up than a
        playbook or the CLI, same code path: stage, then switch)."""
        for host in HOSTS:
            root = DeployRoot(self.root(host))
            twophase.stage(root, DeployOptions(LocalSource(self.app)), release_id)
            twophase.switch(root, release_id, keep=5)


def _explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"rc={result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    releases = write_launcher(tmp_path / "bin" / "releases")
    app = tmp_path / "app"
    app.mkdir()
    (app / "index.html").write_text("v1\n")
    lines = ["[app]"]
    for host in HOSTS:
        (tmp_path / host).mkdir()
        lines.append(f"{host} releases_root={tmp_path / host}")
    lines += [
        "[app:vars]",
        "ansible_connection=local",
        f"ansible_python_interpreter={sys.executable}",
        f"releases_bin={releases}",
        f"releases_source={app}",
    ]
    (tmp_path / "inventory.ini").write_text("\n".join(lines) + "\n")
    return Fleet(tmp_path, app)


def test_clean_deploy_then_a_second_in_batches(fleet: Fleet) -> None:
    """deploy.yml on empty roots: every host stages and goes live on one id made by the
    controller. A second run with serial=2 and a build command moves every host to a new id, the
    first one being each host's rollback target."""
    result = fleet.playbook("deploy.yml")
    assert result.returncode == 0, _explain(result)
    first = fleet.current("web1")
    assert first is not None and fleet.currents() == [first] * 3
    for host in HOSTS:
        assert fleet.switches(host) == [(first, "deploy")]

    (fleet.app / "index.html").write_text("v2\n")
    result = fleet.playbook("deploy.yml", releases_serial=2, releases_build=["echo built > out"])
    assert result.returncode == 0, _explain(result)
    second = fleet.current("web1")
    assert second is not None and second != first and fleet.currents() == [second] * 3
    for host in HOSTS:
        assert (fleet.root(host) / "current" / "index.html").read_text() == "v2\n"
        assert (fleet.root(host) / "current" / "out").read_text() == "built\n"
        assert fleet.listing(host) == {second: "current", first: "previous"}


def test_build_failure_on_one_host_switches_no_host(fleet: Fleet) -> None:
    """One host's build fails: the playbook fails and no host switches. The others keep the
    staged release complete but not live; the failing host has it marked failed."""
    fleet.deploy_directly("20260101T000000Z")
    (fleet.root("web2") / "releases.toml").write_text('[build]\ncommands = ["exit 3"]\n')
    (fleet.app / "index.html").write_text("v2\n")
    result = fleet.playbook("deploy.yml", release_id="20260102T000000Z")
    assert result.returncode != 0, _explain(result)
    assert "failed with exit code 3" in result.stdout
    assert fleet.currents() == ["20260101T000000Z"] * 3
    for host in HOSTS:
        assert fleet.switches(host) == [("20260101T000000Z", "deploy")]
        assert (fleet.root(host) / "current" / "index.html").read_text() == "v1\n"
    staged = {"20260102T000000Z": "staged", "20260101T000000Z": "current"}
    assert fleet.listing("web1") == fleet.listing("web3") == staged
    assert fleet.listing("web2")["20260102T000000Z"] == "failed"


@pytest.fixture
def health_urls() -> Iterator[tuple[str, str]]:
    """(a URL that answers 200, a URL on a port where nothing listens) on 127.0.0.1."""

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *_args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        yield (
            f"http://127.0.0.1:{server.server_address[1]}/health",
            f"http://127.0.0.1:{closed.getsockname()[1]}/health",
        )
    finally:
        closed.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_health_failure_on_one_host_switches_every_host_back(
    fleet: Fleet, health_urls: tuple[str, str]
) -> None:
    """serial=1; web2's health check fails after its switch: web2 switches itself back, web1
    (already switched and healthy) is switched back by the playbook, web3 is never switched.
    Every host ends on the previous release and the playbook fails naming web2."""
    fleet.deploy_directly("20260101T000000Z")
    healthy, dead = health_urls
    for host in HOSTS:
        url = dead if host == "web2" else healthy
        (fleet.root(host) / "releases.toml").write_text(
            f'[health]\nurl = "{url}"\ntimeout = 1.0\ninterval = 0.2\n'
        )
    result = fleet.playbook("deploy.yml", release_id="20260102T000000Z", releases_serial=1)
    assert result.returncode != 0, _explain(result)
    assert "fatal: [web2]" in result.stdout and "switch to 20260102T000000Z failed" in result.stdout
    assert fleet.currents() == ["20260101T000000Z"] * 3
    old, new = "20260101T000000Z", "20260102T000000Z"
    assert fleet.switches("web1") == [(old, "deploy"), (new, "deploy"), (old, "rollback")]
    assert fleet.switches("web2") == [(old, "deploy"), (new, "deploy"), (old, "rollback")]
    assert fleet.switches("web3") == [(old, "deploy")]
    assert fleet.listing("web2")[new] == "failed"
    assert fleet.listing("web1")[new] == "complete", "healthy on web1: kept, not a target"
    assert fleet.listing("web3")[new] == "staged"


def test_rollback_to_a_chosen_id(fleet: Fleet) -> None:
    """rollback.yml -e to=ID: refused on every host (no change) when one host lacks the release;
    otherwise every host goes to it, and a host already on it is left alone."""
    a, b, c = "20260101T000000Z", "20260102T000000Z", "20260103T000000Z"
    fleet.deploy_directly(a)
    fleet.deploy_directly(b)
    fleet.deploy_directly(c)
    prune = run_cli("prune", "--keep", "1", "--root", str(fleet.root("web3")))
    assert prune.returncode == 0 and f"deleted {a}" in prune.stdout
    result = fleet.playbook("rollback.yml", to=a)
    assert result.returncode != 0, _explain(result)
    assert f"release {a} is not on this host" in result.stdout
    assert fleet.currents() == [c] * 3

    assert run_cli("rollback", "--to", b, "--root", str(fleet.root("web2"))).returncode == 0
    result = fleet.playbook("rollback.yml", to=b)
    assert result.returncode == 0, _explain(result)
    assert fleet.currents() == [b] * 3
    assert [s[0] for s in fleet.switches("web2")] == [a, b, c, b], "web2 was already on b"

    result = fleet.playbook("list.yml")
    assert result.returncode == 0, _explain(result)
    assert f"every host runs {b}" in result.stdout


def test_build_once_playbook_stages_one_artifact_everywhere(fleet: Fleet) -> None:
    """deploy-artifact.yml: one pack on the controller (the build runs once), the same file
    staged on every host (each reports the artifact's digest), then the switch batches: every
    host live on the artifact's id with the built file."""
    builds = fleet.base / "builds.log"
    result = fleet.playbook(
        "deploy-artifact.yml",
        releases_pack_bin=str(fleet.base / "bin" / "releases"),
        releases_pack_source=str(fleet.app),
        releases_pack_output=str(fleet.base / "app.artifact"),
        releases_artifact_dir=str(fleet.base),
        releases_build=[f"echo built > out && echo once >> {builds}"],
        releases_serial=2,
    )
    assert result.returncode == 0, _explain(result)
    assert builds.read_text() == "once\n"
    manifest = json.loads(
        subprocess.run(
            ["tar", "-xOf", str(fleet.base / "app.artifact"), "releases-artifact.json"],
            capture_output=True,
            check=True,
        ).stdout
    )
    assert fleet.currents() == [manifest["id"]] * 3
    for host in HOSTS:
        listed = json.loads(run_cli("list", "--root", str(fleet.root(host)), "--json").stdout)
        assert [r["artifact"]["digest"] for r in listed["releases"]] == [manifest["digest"]]
        assert (fleet.root(host) / "current" / "out").read_text() == "built\n"
        assert fleet.switches(host) == [(manifest["id"], "deploy")]
    assert not list(fleet.base.glob("releases-*.artifact"))  # the copies are removed
