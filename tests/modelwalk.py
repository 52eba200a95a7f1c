"""A seeded random walk over the state-changing commands, with every read command and the
invariants a user relies on checked after each step (tests/cli/test_model_walk.py runs it).

The walk keeps a small model (what is frozen, pinned, held open by a process) and asks the
tool itself what it will do where the answer is the tool's policy (the rollback target), then
checks that it did it: `current` names a complete release, the read commands exit 0 (or their
documented code), nginx serves what `current` names (blue-green), and no release a process or
an app still uses, no pinned one and not the rollback target was pruned.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bgstack import Stack
from helpers import Cli

from releases_cli.core.clock import utc_now
from releases_cli.core.ids import new_id
from releases_cli.core.layout import DeployRoot
from releases_cli.pipelines.newid import known_ids

Json = dict[str, Any]  # a --json document
FROZEN = 5  # docs/reference.md: deploy, stage and switch are refused while frozen
INVALID, NOT_FOUND, BUILD_FAILED, UNHEALTHY = 3, 4, 6, 9
READ_VARIANTS = {"history": ((), ("--json",), ("--all",)), "logs": ((),)}  # default: text, --json


@dataclass
class Walk:
    """One walk: a deploy root, its sources, the model, and the steps taken (for the report)."""

    cli: Cli
    root: Path
    work: Path  # sources, artifacts
    rng: random.Random
    stack: Stack | None = None  # blue-green: the PM2 + nginx serving the root
    frozen: bool = False
    pinned: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)  # complete releases whose app answers 500
    held: dict[int, tuple[subprocess.Popen[bytes], str]] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    version: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # what ran (the test prints it)

    # -- running commands -------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return self.stack.env() if self.stack else {}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli(*args, "--root", str(self.root), env=self.env())

    def expect(self, codes: set[int], *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(*args)
        self.steps.append(f"{' '.join(args)} -> {result.returncode}")
        assert result.returncode in codes, self.why(f"exit {result.returncode}", result)
        if result.returncode:
            last = result.stderr.splitlines()[-1]
            assert last.startswith("releases: error: "), self.why("stderr", result)
        return result

    def why(self, what: str, result: subprocess.CompletedProcess[str] | None = None) -> str:
        tail = (
            f"\nstdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}" if result else ""
        )
        return f"{what} after steps:\n  " + "\n  ".join(self.steps[-12:]) + tail

    def listing(self) -> Json:
        result = self.run("list", "--json")
        assert result.returncode == 0, self.why("list --json", result)
        found: Json = json.loads(result.stdout)
        return found

    def current(self) -> str | None:
        link = self.root / "current"
        return os.readlink(link).rsplit("/", 1)[-1] if os.path.lexists(link) else None

    def releases(self, *statuses: str) -> list[str]:
        found = self.listing()["releases"]
        assert isinstance(found, list)
        return [r["id"] for r in found if not statuses or r["status"] in statuses]

    def pick(self, *statuses: str) -> str | None:
        ids = self.releases(*statuses)
        return self.rng.choice(ids) if ids else None

    # -- sources ------------------------------------------------------------------------------

    def source(self, broken: bool = False) -> Path:
        """The app's source with a new version file (diff has something to show); `broken`: one
        whose app answers 500 (a failed health check)."""
        self.version += 1
        path = self.work / "src"
        (path / "version.txt").write_text(f"{self.version}\n")
        (path / "BROKEN").unlink(missing_ok=True)
        if broken:
            (path / "BROKEN").write_text("yes\n")
        return path

    # -- the operations -----------------------------------------------------------------------

    def deploy(self) -> None:
        before = self.current()
        keep = ("--keep", "2") if self.rng.random() < 0.3 else ()  # its prune deletes more
        self.expect(
            {FROZEN} if self.frozen else {0}, "deploy", *keep, "--source", str(self.source())
        )
        if not self.frozen:
            assert self.current() != before, self.why("deploy did not change current")

    def deploy_build_fails(self) -> None:
        before = self.current()
        code = FROZEN if self.frozen else BUILD_FAILED
        self.expect({code}, "deploy", "--source", str(self.source()), "--build", "exit 1")
        assert self.current() == before, self.why("a failed build changed current")

    def deploy_unhealthy(self) -> None:
        before = self.current()
        code = FROZEN if self.frozen else UNHEALTHY
        self.expect({code}, "deploy", "--source", str(self.source(broken=True)))
        assert self.current() == before, self.why("an unhealthy release stayed live")

    def stage(self, broken: bool = False) -> None:
        before = self.current()
        source = str(self.source(broken))
        result = self.expect({FROZEN} if self.frozen else {0}, "stage", "--source", source)
        assert self.current() == before, self.why("stage changed current")
        if not self.frozen:
            staged = result.stdout.split()[-1]
            assert staged in self.releases("staged"), self.why("staged", result)
            if broken:
                self.broken.add(staged)

    def stage_broken(self) -> None:
        """A complete release whose app fails its health check: switching or rolling back to
        it fails (exit 9)."""
        self.stage(broken=True)

    def switch(self) -> None:
        target = self.pick("staged", "complete", "previous")
        if target is None:
            return
        before = self.current()
        code = FROZEN if self.frozen else UNHEALTHY if target in self.broken else 0
        self.expect({code}, "switch", target)
        assert self.current() == (target if code == 0 else before), self.why("switch")

    def rollback(self) -> None:
        target = self.listing()["previous"]
        self.rollback_to(target, ())

    def rollback_to(self, target: str | None = None, to: tuple[str, ...] | None = None) -> None:
        """Rollback (to `target`, the rollback target) or `rollback --to` a random release."""
        if to is None:
            target = self.pick("complete", "previous", "staged")
            if target is None:
                return
            to = ("--to", target)
        before, warm = self.current(), self.warm(target)
        code = NOT_FOUND if target is None else UNHEALTHY if target in self.broken else 0
        self.expect({code}, "rollback", *to)
        if code == 0:
            assert self.current() == target, self.why(f"rollback went elsewhere than {target}")
            self.count(warm)
        else:  # reload mode stays on an unhealthy target; blue-green never flips to it
            assert self.current() in (before, target), self.why("unhealthy rollback")

    def warm(self, target: object) -> str:
        """How a rollback to `target` goes: to an app still running (warm) or not (cold)."""
        state = self.root / ".releases" / "serve" / "state.json"
        if self.stack is None or not state.exists():
            return "rollback"
        return (
            "warm rollback" if target in json.loads(state.read_text())["apps"] else "cold rollback"
        )

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def prune(self) -> None:
        before = set(self.releases())
        self.expect({0}, "prune", "--keep", str(self.rng.randint(1, 3)))
        assert set(self.releases()) <= before

    def pin(self) -> None:
        target = self.pick()
        if target is not None:
            self.expect({0}, "pin", target, "-m", "keep it")
            self.pinned.add(target)

    def unpin(self) -> None:
        if self.pinned:
            target = self.rng.choice(sorted(self.pinned))
            self.expect({0}, "unpin", target)
            self.pinned.discard(target)

    def freeze(self) -> None:
        self.expect({0}, "freeze", "-m", "walk freeze")
        self.frozen = True

    def unfreeze(self) -> None:
        self.expect({0}, "unfreeze")
        self.frozen = False

    def pack_and_deploy(self) -> None:
        artifact = self.work / "app.artifact"
        # An id this root has not seen: pack's default (now, to the second) may be the id of a
        # release deployed in the same second, which the root refuses (exit 3, by design).
        fresh = new_id(utc_now(), known_ids(DeployRoot(self.root)))
        result = self.cli(
            "pack", "--source", str(self.source()), "--id", fresh, "-o", str(artifact)
        )
        assert result.returncode == 0, self.why("pack", result)
        before = self.current()
        self.expect({FROZEN} if self.frozen else {0}, "deploy", "--artifact", str(artifact))
        assert self.frozen or self.current() != before, self.why("artifact deploy")

    def reap(self) -> None:
        self.expect({0} if self.stack else {INVALID}, "reap")  # needs blue-green

    def canary(self) -> None:
        """`deploy --canary 50% --detach` (blue-green; reload mode refuses it), the reads while
        it runs, then `promote` or `abort` by hand from another process; the detached watcher
        sees its canary gone and ends."""
        before = self.current()
        args = ("deploy", "--canary", "50%", "--detach", "--source", str(self.source()))
        if self.stack is None or self.frozen:
            self.expect({INVALID} if self.stack is None else {FROZEN}, *args)
            assert self.current() == before, self.why("a refused canary changed current")
            return
        self.expect({0}, *args)
        running = json.loads(self.run("status", "--json").stdout)["canary"]
        assert running is not None and running["stable"] == before, self.why(f"{running}")
        assert running["watched"], self.why("no watcher owns the canary")
        self.check_reads()
        if self.rng.random() < 0.5:
            self.expect({0}, "promote")
            assert self.current() == running["id"], self.why("promote did not make it live")
        else:
            self.expect({0}, "abort")
            assert self.current() == before, self.why("abort changed current")
            assert running["id"] in self.releases("failed"), self.why("aborted, not failed")
        self.expect({NOT_FOUND}, "abort")  # none runs any more

    def hold(self) -> None:
        """A process with its cwd in the live release (prune must keep that release)."""
        live = self.current()
        if live is None or len(self.held) >= 2:
            return
        proc = subprocess.Popen(["sleep", "600"], cwd=self.root / "releases" / live)
        self.held[proc.pid] = (proc, live)
        self.steps.append(f"hold {live} (pid {proc.pid})")

    def release(self) -> None:
        if self.held:
            pid = self.rng.choice(sorted(self.held))
            stop(self.held.pop(pid)[0])
            self.steps.append(f"release pid {pid}")

    def operations(self) -> list[tuple[Callable[[], None], int]]:
        """Each operation with its weight."""
        ops: list[tuple[Callable[[], None], int]] = [
            (self.deploy, 6),
            (self.deploy_build_fails, 2),
            (self.deploy_unhealthy, 2),
            (self.stage, 2),
            (self.stage_broken, 1),
            (self.switch, 2),
            (self.rollback, 4),
            (self.rollback_to, 1),
            (self.prune, 2),
            (self.pin, 1),
            (self.unpin, 1),
            (self.freeze, 0 if self.frozen else 1),
            (self.unfreeze, 4 if self.frozen else 1),  # not frozen: a no-op, exit 0
            (self.pack_and_deploy, 1),
            (self.reap, 1),
            (self.canary, 2),
            (self.hold, 0 if self.stack else 1),
            (self.release, 0 if self.stack else 1),
        ]
        return [(op, weight) for op, weight in ops if weight]

    def step(self, op: Callable[[], None] | None = None) -> None:
        """One operation (`op`, or a random one), then every check."""
        if op is None:
            ops = self.operations()
            op = self.rng.choices([o for o, _ in ops], [w for _, w in ops])[0]
        op()
        self.count(op.__name__)
        self.check()

    # -- after every step ---------------------------------------------------------------------

    def check(self) -> None:
        listing = self.check_reads()
        live = self.current()
        assert live == listing["current"], self.why(f"list says {listing['current']}, link {live}")
        kept = {r["id"]: r for r in listing["releases"]}
        if live is not None:
            assert kept[live]["complete"], self.why(f"current names incomplete {live}")
        for proc, held in self.held.values():
            assert held in kept, self.why(f"{held} pruned while pid {proc.pid} has its cwd in it")
        for pinned in self.pinned:
            assert pinned in kept, self.why(f"pinned {pinned} was pruned")
        shown = {r for r, release in kept.items() if release["pinned"]}
        assert shown == self.pinned, self.why(f"list shows pins {shown}, pinned {self.pinned}")
        if listing["previous"] is not None:
            assert listing["previous"] in kept, self.why("the rollback target is gone")
        used = releases_in_use(self.root)
        assert used <= set(kept), self.why(f"pruned while a process runs in it: {used - set(kept)}")
        if self.stack is not None:
            assert live is None or live in used, self.why(f"no app runs in live {live}")
            self.check_serving(live)

    def check_serving(self, live: str | None) -> None:
        assert self.stack is not None
        if live is not None:
            assert self.stack.served() == live, self.why(f"nginx does not serve {live}")

    def check_reads(self) -> Json:
        """Every read command, text and --json: exit 0 or its documented code, JSON that
        parses, one line on stderr for a refusal, never a traceback."""
        listing = self.listing()
        live, previous = listing["current"], listing["previous"]
        status = self.run("status", "--json")
        frozen = json.loads(status.stdout)["frozen"]
        assert (frozen is not None) == self.frozen, self.why(f"status --json frozen: {frozen}")
        for command, codes in (
            ("list", {0}),
            ("history", {0}),
            ("doctor", {0}),
            ("status", {0} if live else {NOT_FOUND}),
            ("diff", {0} if live and previous else {0, NOT_FOUND}),
            ("logs", {0} if live else {0, NOT_FOUND}),
        ):
            for extra in READ_VARIANTS.get(command, ((), ("--json",))):
                result = self.run(command, *extra)
                what = f"`{command} {' '.join(extra)}` exit {result.returncode}"
                assert result.returncode in codes, self.why(what, result)
                assert "Traceback" not in result.stderr, self.why(what, result)
                if "--json" in extra and result.stdout.strip():
                    json.loads(result.stdout)
        return listing

    def close(self) -> None:
        for proc, _ in self.held.values():
            stop(proc)
        self.held.clear()


def releases_in_use(root: Path) -> set[str]:
    """The releases some process has its cwd in (an app under PM2, a held process), from
    /proc. A pruned release in use shows up too: as `... (deleted)`, or as its trash entry."""
    inside, trash = f"{root / 'releases'}/", f"{root / '.releases' / 'trash'}/"
    found: set[str] = set()
    for entry in Path("/proc").iterdir():
        try:
            cwd = os.readlink(entry / "cwd") if entry.name.isdigit() else ""
        except OSError:
            continue  # gone, or not ours
        if cwd.startswith(inside):
            found.add(cwd[len(inside) :].split("/")[0].removesuffix(" (deleted)"))
        elif cwd.startswith(trash):
            found.add(f"in the trash: {cwd}")
    return found


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


class _Health(BaseHTTPRequestHandler):
    """Reload mode's app stand-in: 200 unless the live release has a BROKEN file."""

    root: Path

    def do_GET(self) -> None:
        broken = (self.root / "current" / "BROKEN").exists()
        self.send_response(500 if broken else 200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def health_server(root: Path) -> Iterator[int]:
    """An HTTP server on a free port answering for `root`'s live release (a daemon thread:
    in-process CLI calls join non-daemon threads)."""
    handler = type("Health", (_Health,), {"root": root})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def reload_config(root: Path, port: int) -> None:
    """Reload mode: no build, a restart that does nothing, a health check on the stand-in."""
    (root / "releases.toml").write_text(
        '[build]\ncommands = []\npreset = "none"\n'
        '[restart]\ncommand = "true"\n'
        f'[health]\nurl = "http://127.0.0.1:{port}/"\ntimeout = 0.5\ninterval = 0.05\n'
    )
