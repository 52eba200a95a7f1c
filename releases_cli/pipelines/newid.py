"""A release id given from outside (a fleet controller's `--id`, an artifact's manifest): it
must be new on this host and sort after every id the host has seen (ids are order,
docs/design.md), so a controller or build machine whose clock is behind is refused rather than
reordering history. It must not be more than MAX_AHEAD ahead of this host's clock either: every
later id is made to sort after it, so one id from the far future (99991231T235959Z) would make
every later deploy take its timestamp with a suffix, until the suffixes run out."""

from __future__ import annotations

from datetime import datetime, timedelta

from releases_cli.core.errors import InvalidInput
from releases_cli.core.events import read_history
from releases_cli.core.ids import id_time, sort_key, validate_id
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import meta_ids

MAX_AHEAD = timedelta(days=1)  # clock skew between hosts is seconds; time zones are not in ids


def check_new_id(wanted: str, known: list[str], now: datetime, fix: str = "pick a new --id") -> str:
    """A given id is accepted only when it is unused, newer than every known id, and not more
    than MAX_AHEAD ahead of `now`."""
    release_id = validate_id(wanted)
    if id_time(release_id) > now + MAX_AHEAD:
        raise InvalidInput(
            f"release id {release_id} is more than a day ahead of this host's clock "
            f"({now:%Y-%m-%dT%H:%M:%SZ}); every later id would have to sort after it "
            "(is the clock that made the id wrong?)"
        )
    if release_id in known:
        raise InvalidInput(f"release {release_id} already exists on this host; {fix}")
    newest = max(known, key=sort_key, default=None)
    if newest is not None and sort_key(release_id) < sort_key(newest):
        raise InvalidInput(
            f"release id {release_id} is older than {newest}, the newest release this host has "
            "seen; ids must increase (is the clock that made the id behind?)"
        )
    return release_id


def known_ids(root: DeployRoot) -> list[str]:
    """Every id this host has used: on disk, in meta, and in the history (pruned ones too)."""
    in_history = [e.release_id for e in read_history(root).events if e.release_id]
    return root.release_ids_on_disk() + meta_ids(root) + in_history
