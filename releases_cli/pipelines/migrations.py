"""The migrations digest: what each release records of its `[migrations] paths` at build time,
and the rollback check that compares the target's digest with the live release's.

A rollback to code whose migrations differ from the live release's may meet a database schema
that release does not know (the live release's migrations ran). The digest covers every entry
under the paths, read without following links (core/fingerprint.py), so renaming, adding or
editing a migration changes it.
"""

from __future__ import annotations

from pathlib import Path

from releases_cli.config import MigrationsConfig
from releases_cli.core.errors import UnsafeState, describe_os_error
from releases_cli.core.report import Report
from releases_cli.core.state import Snapshot


def _entries(release: Path, rel: str) -> dict[str, str]:
    # At build time only: rollback loads this module for check_rollback and must start fast.
    from releases_cli.core.fingerprint import DIR, entries, entry, file_digest

    try:
        top = entry(release, rel)
        if top is None:
            return {}
        found = {rel: top}
        if top == DIR:
            found |= {f"{rel}/{name}": kind for name, kind in entries(release, rel).items()}
        for name, kind in found.items():
            if kind.startswith("file:"):
                found[name] = f"{kind}:{file_digest(release, name)}"
        return found
    except OSError as error:  # a link on the way, an unreadable directory: part of the digest
        return {rel: f"unreadable: {describe_os_error(error)}"}


def digest(release: Path, paths: tuple[str, ...]) -> str | None:
    """A short digest of everything under `paths` in `release`; None when no paths are set."""
    import hashlib

    if not paths:
        return None
    hashed = hashlib.sha256()
    for rel in paths:
        hashed.update(f"[{rel}]\n".encode())
        entries = _entries(release, rel)
        for name in sorted(entries):
            hashed.update(f"{name}\0{entries[name]}\n".encode())
    return hashed.hexdigest()[:16]


def check_rollback(
    snap: Snapshot, target: str, settings: MigrationsConfig, force: bool, report: Report
) -> str | None:
    """Warn (or with `rollback = "refuse"` and no `force`, refuse: UnsafeState, exit 7, nothing
    changed) when `target`'s migrations differ from the live release's. Returns the warning."""
    live = snap.get(snap.current_id) if snap.current_id else None
    wanted = snap.get(target)
    ours = live.meta.migrations if live and live.meta else None
    theirs = wanted.meta.migrations if wanted and wanted.meta else None
    if ours is None or theirs is None or ours == theirs:
        return None
    paths = ", ".join(settings.paths) or "the migration paths"
    warning = (
        f"the migrations of {target} ({paths}) differ from those of the live release "
        f"{snap.current_id}: the database schema may be newer than {target} expects"
    )
    if settings.rollback == "refuse" and not force:
        raise UnsafeState(
            f'{warning}; refusing to roll back (migrations.rollback = "refuse"): '
            "pass --force to roll back anyway"
        )
    report(f"warning: {warning}")
    return warning
