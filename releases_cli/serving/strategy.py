"""The serving strategy: how a release takes traffic, and the one interface every mode implements.

The pipelines (deploy, switch, rollback, up, reap) hold a `Strategy` and never ask which one it
is; `strategies.for_config` picks it from `[serve] mode`. A strategy owns everything between
"this complete release should serve" and "it serves": in reload mode the atomic `current`
switch, the restart command and the health URL (serving/reload.py); in blue-green mode the
release's own PM2 app, its health check on its own port and the nginx flip
(serving/bgstrategy.py). A new mode (systemd units instead of PM2, say) is one more class here
and one more entry in `strategies.py`; nothing in pipelines/ changes.

The contract, for deploy and switch (`go_live`) and rollback (`roll_back`):
- The strategy calls `switched()` once, at the moment traffic (and `current`) moved to the
  release, inside the same interrupt-deferred block: the caller records the switch there, so
  the history never misses a switch that happened, nor names one that did not.
- It raises BuildFailed or HealthFailed (the message says what is live now) when the release
  does not serve, and Interrupted on SIGINT/SIGTERM after the switch. For `go_live` the
  release is then marked failed (`mark_failed`, before any switch back, so a crash in between
  leaves `current` on a release marked failed, never on a never-healthy one that looks
  complete). For `roll_back` the target is never marked failed: it served before, so the fault
  is more likely in the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol, TextIO

from releases_cli.config import AnalysisConfig
from releases_cli.core.clock import Clock
from releases_cli.core.errors import ReleasesError, describe_os_error, one_line
from releases_cli.core.events import DeployFailed, record
from releases_cli.core.finding import Finding
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import read_meta, write_meta
from releases_cli.core.report import Report

if TYPE_CHECKING:
    from releases_cli.serving.watchprobe import Probe


class Activation(NamedTuple):
    """A release going live (or rolled back to), and what every step of that needs."""

    root: DeployRoot
    release_id: str
    previous: str | None  # what `current` named when the command started
    clock: Clock
    report: Report
    echo: TextIO | None = None  # where command output goes (default: stdout)


class Up(NamedTuple):
    """What `up` left running: the live release and (blue-green) its port and the warm ones."""

    live: str | None
    port: int | None = None
    warm: tuple[str, ...] = ()


Switched = Callable[[], None]
Stages = tuple[tuple[int, float], ...]  # a canary's (share %, seconds) stages


class ServeApp(NamedTuple):
    id: str
    role: str  # "live", "warm" or "not routed"
    port: int
    pm2_status: str | None  # None: not in PM2 (or its daemon is not running)
    online: int  # workers online
    memory: int | None  # bytes, all workers
    stops_at: datetime | None
    stops_in_seconds: int | None


class Strategy(Protocol):
    """One way of serving releases. See the module docstring for the failure contract."""

    @property
    def name(self) -> str:
        """The `[serve] mode` that selects it."""

    def check(self, root: DeployRoot) -> None:
        """Before anything is built: refuse (InvalidInput) a setup this mode cannot serve."""

    def require(self, root: DeployRoot, command: str) -> None:
        """Refuse (InvalidInput, with the fix) a command this mode has no use for, before
        anything else is checked or locked: `preview` and `reap` in reload mode."""

    def go_live(self, act: Activation, switched: Switched) -> None:
        """Make a new complete release serve (deploy, switch)."""

    def roll_back(self, act: Activation, switched: Switched) -> None:
        """Make a kept release serve again, without a rebuild."""

    def up(self, root: DeployRoot, clock: Clock, report: Report) -> Up:
        """Start what the state on disk says serves (at boot, any time); idempotent."""

    def diagnose(self, root: DeployRoot) -> tuple[list[Finding], str | None]:
        """`doctor`'s findings for this mode, and the PM2 name prefix of the apps it runs for
        the root (None when it runs none)."""

    def apps(self, root: DeployRoot, now: datetime) -> list[ServeApp]:
        """The apps this mode runs for the root, for `status` and `list` (never starting a
        process manager just to look)."""

    def preview(self, root: DeployRoot, release_id: str, clock: Clock, report: Report) -> int:
        """Start a release on its own port without routing traffic to it; the port."""

    def reap(self, root: DeployRoot, wait: float, clock: Clock, report: Report) -> list[str]:
        """Stop what serves no more (past its grace); the release ids stopped."""

    # -- the canary (docs/canary.md): a mode that cannot split traffic refuses each with
    # InvalidInput naming the fix.

    def check_canary(self, root: DeployRoot) -> None:
        """Before anything is built: refuse (InvalidInput) a canary this mode cannot run."""

    def start_canary(self, act: Activation, stages: Stages, window: dict[str, int | str]) -> None:
        """Start the release warm and route the first stage's share of visitors to it;
        `current` stays on the live (stable) release. HealthFailed: nothing was routed."""

    def advance_canary(
        self, root: DeployRoot, window: dict[str, int | str], clock: Clock, report: Report
    ) -> int:
        """Route the next stage's share to the canary; the new share."""

    def promote(self, act: Activation, switched: Switched) -> None:
        """All traffic to the canary now: it becomes live as a deploy's flip makes a release
        live (`switched` at that moment)."""

    def abort_canary(self, root: DeployRoot, clock: Clock, report: Report) -> tuple[str, str]:
        """All traffic back on the stable release now (no restart); (canary, stable)."""

    def traffic_ports(self, root: DeployRoot) -> dict[int, str]:
        """Port -> release id of the apps the access log can name (empty: no log to judge)."""

    def watch_probe(
        self, act: Activation, analysis: AnalysisConfig, since: dict[str, int | str]
    ) -> Probe:
        """What the watch after a flip to `act.release_id` looks at (serving/watchprobe.py);
        `since`: the access log's cursor at the flip."""


def describe(error: BaseException) -> str:
    """An unexpected error as one line: ours by its message, the OS's by reason and file."""
    if isinstance(error, ReleasesError):
        return one_line(error.message)
    if isinstance(error, OSError):
        return describe_os_error(error)
    return one_line(f"{type(error).__name__}: {error}")


def best_effort(action: Callable[[], object], what: str, report: Report) -> None:
    """Bookkeeping that must not stop a switch back: an OS error becomes a warning."""
    try:
        action()
    except OSError as error:
        report(f"warning: could not {what}: {describe_os_error(error)}")


def mark_failed(root: DeployRoot, release_id: str, problem: str, clock: Clock) -> None:
    """Meta status failed (keeping the build facts) + a deploy_failed event."""
    meta = read_meta(root, release_id)
    if meta is not None:  # no readable meta: the release is incomplete already, never live
        write_meta(root, meta.marked_failed(clock, problem))
    record(root, DeployFailed(release_id, problem), clock)


def mark_failed_best_effort(act: Activation, problem: str) -> None:
    best_effort(
        lambda: mark_failed(act.root, act.release_id, problem, act.clock),
        "mark it failed",
        act.report,
    )
