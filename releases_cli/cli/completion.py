"""Shell completion of release ids (`rollback --to`, `switch`, `pin`, `unpin`, `diff`, `logs`).

Runs on every <TAB>, so it only lists releases/ and reads the small meta files
(pipelines/overview.py): no lock, no history, no git. Complete releases other than the live
one, newest first, with a hint (the revision, or when it was built) that zsh and fish show next
to each id.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from releases_cli.core.clock import iso

if TYPE_CHECKING:
    from releases_cli.core.meta import ReleaseMeta


def release_ids(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Ids of complete releases starting with `incomplete`, each with a short description
    (the live one left out: switching to it is refused anyway)."""
    return _ids(ctx, incomplete, everything=False)


def any_release_ids(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Ids of every release on disk starting with `incomplete` (the live, failed and incomplete
    ones too: pin, diff and logs take any), each with a short description."""
    return _ids(ctx, incomplete, everything=True)


def _ids(ctx: typer.Context, incomplete: str, everything: bool) -> list[tuple[str, str]]:
    from releases_cli.cli.options import deploy_root_of
    from releases_cli.core.errors import ReleasesError
    from releases_cli.pipelines.overview import candidates

    try:
        # The command's --root, else `releases --root X` before it (whose callback, which
        # sets $RELEASES_ROOT, does not run while completing).
        raw = ctx.params.get("root") or (ctx.parent.params.get("root") if ctx.parent else None)
        found = []
        for release_id, live, meta in candidates(
            deploy_root_of(Path(raw) if raw else None), incomplete
        ):
            if live and not everything:
                continue
            if meta is None or not meta.complete:
                if everything:
                    found.append((release_id, meta.status if meta else "incomplete"))
                continue
            hint = _hint(meta)
            found.append((release_id, f"live: {hint}" if live else hint))
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
