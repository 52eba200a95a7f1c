"""Shell completion of release ids (for `rollback --to` and `switch`).

Runs on every <TAB>, so it only lists releases/ and reads the small meta files: no lock, no
history, no git. Complete releases other than the live one, newest first, with a hint (the
revision, or when it was built) that zsh and fish show next to each id.
"""

from __future__ import annotations

from pathlib import Path

import typer


def release_ids(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Ids of complete releases starting with `incomplete`, each with a short description."""
    from releases_cli.core.history import COMPLETE, read_meta
    from releases_cli.core.layout import DeployRoot, read_current

    try:
        raw = ctx.params.get("root")
        root = DeployRoot.resolve(Path(raw) if raw else None)
        current = read_current(root).release_id
        found = []
        for release_id in reversed(root.release_ids_on_disk()):
            if release_id == current or not release_id.startswith(incomplete):
                continue  # switching to the live release is refused anyway
            meta = read_meta(root, release_id)
            if not meta or meta.get("status") != COMPLETE:
                continue
            found.append((release_id, _hint(meta)))
        return found
    except (OSError, ValueError):  # completion must never print a traceback into the shell
        return []


def _hint(meta: dict[str, object]) -> str:
    source = meta.get("source")
    revision = source.get("revision") if isinstance(source, dict) else None
    subject = source.get("subject") if isinstance(source, dict) else None
    if isinstance(revision, str):
        return revision[:7] + (f" {subject}" if isinstance(subject, str) else "")
    return str(meta.get("completed_at") or "complete")
