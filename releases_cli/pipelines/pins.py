"""`releases pin` / `unpin`: the meta's `pinned` flag (prune keeps a pinned release), rewritten
atomically under the lock, then recorded in the history."""

from __future__ import annotations

from releases_cli.core import faults
from releases_cli.core.clock import Clock, utc_now
from releases_cli.core.errors import InvalidInput, NotFound
from releases_cli.core.events import Pin, Unpin, record
from releases_cli.core.ids import validate_id
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import ReleaseMeta, write_meta
from releases_cli.core.recovery import exclusive
from releases_cli.core.report import Report


def _quiet(_message: str) -> None:
    return None


def set_pin(
    root: DeployRoot,
    release_id: str,
    pinned: bool,
    message: str | None = None,
    wait: float = 0,
    clock: Clock = utc_now,
    report: Report = _quiet,
) -> tuple[ReleaseMeta, bool]:
    """Pin (or unpin) a release; its meta afterwards, and whether anything changed. The meta is
    replaced before the history line: a crash between them leaves the pin, unrecorded."""
    validate_id(release_id)
    root.require_initialized()
    with exclusive(root, wait, clock, report) as recovered:
        release = recovered.snapshot.get(release_id)
        if release is None:
            raise NotFound(f"release {release_id} does not exist (see `releases list`)")
        if release.meta is None:
            raise InvalidInput(
                f"release {release_id} is incomplete (no readable meta); nothing to "
                f"{'pin' if pinned else 'unpin'} (prune keeps it for a person to look at)"
            )
        meta = release.meta
        wanted = meta.pinned_as(pinned, message)
        if wanted == meta:
            return meta, False
        write_meta(root, wanted)
        faults.point("after_pin_write")
        record(root, Pin(release_id, message) if pinned else Unpin(release_id), clock)
    return wanted, True
