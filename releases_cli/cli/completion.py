"""Shell completion of release ids (for `rollback --to` and `switch`).

Runs on every <TAB>, so it only lists releases/ and reads the small meta files: no lock, no
history, no git. Complete releases other than the live one, newest first, with a hint (the
revision, or when it was built) that zsh and fish show next to each id.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from releases_cli.core.clock import iso

if TYPE_CHECKING:
    from releases_cli.core.meta import ReleaseMeta


def release_ids(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Ids of complete releases starting with `incomplete`, each with a short description."""
    from releases_cli.cli.options import deploy_root_of
    from releases_cli.core.errors import ReleasesError
    from releases_cli.core.layout import read_current
    from releases_cli.core.meta import read_meta

    try:
        # The command's --root, else `releases --root X` before it (whose callback, which
        # sets $RELEASES_ROOT, does not run while completing).
        raw = ctx.params.get("root") or (ctx.parent.params.get("root") if ctx.parent else None)
        root = deploy_root_of(Path(raw) if raw else None)
        current = read_current(root).release_id
        found = []
        for release_id in reversed(root.release_ids_on_disk()):
            if release_id == current or not release_id.startswith(incomplete):
                continue  # switching to the live release is refused anyway
            meta = read_meta(root, release_id)
            if meta is None or not meta.complete:
                continue
            found.append((release_id, _hint(meta)))
        return found
    except (
        OSError,
        ValueError,
        ReleasesError,
    ):  # completion must never print a traceback into the shell
        return []


def _hint(meta: ReleaseMeta) -> str:
    revision = meta.source.get("revision")
    subject = meta.source.get("subject")
    if revision is not None:
        return revision[:7] + (f" {subject}" if subject is not None else "")
    return iso(meta.completed_at) if meta.completed_at else "complete"
