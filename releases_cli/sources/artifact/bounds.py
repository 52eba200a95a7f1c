"""What an artifact may cost the server: its manifest declares the content's size and the
tree's bytes, files and entries, and reading is held to those (and to fixed ceilings, for what
a manifest does not declare or declares beyond them). The read stops at the first excess, so
a hostile artifact costs at most what it declared in disk, memory and CPU, and is refused
before anything is created (docs/artifacts.md, "Limits").
"""

from __future__ import annotations

from releases_cli.core.errors import InvalidInput
from releases_cli.core.units import human_size
from releases_cli.sources.artifact.manifest import Manifest
from releases_cli.sources.tarstream import Limits, Totals

MAX_PAYLOAD = 64 << 30  # compressed content: a Next.js tree packs to well under 1 GiB
MAX_TREE = 64 << 30  # bytes of files in the tree
MAX_ENTRIES = 1_000_000  # directories, files and links (a large node_modules: ~200,000)
MAX_NAMES = 256 << 20  # bytes of all paths together (directories' are held while reading)
PER_ENTRY = 8 << 10  # tar stream per entry beyond its data: header, pax records, padding
SLACK = 1 << 20  # the end-of-archive blocks and the codec's padding


def require_within(manifest: Manifest) -> None:
    """Refuse a manifest that declares more than an artifact may hold (exit 3)."""
    for what, declared, most in (
        ("content", manifest.payload_size, MAX_PAYLOAD),
        ("tree", manifest.tree_size, MAX_TREE),
    ):
        if declared is not None and not 0 <= declared <= most:
            raise InvalidInput(
                f"artifact declares a {what} of {declared} bytes; an artifact may hold at most "
                f"{human_size(most)}: refused"
            )
    for what, count in (("files", manifest.files), ("entries", manifest.entries)):
        if count is not None and not 0 <= count <= MAX_ENTRIES:
            raise InvalidInput(
                f"artifact declares {count} {what}; an artifact may hold at most "
                f"{MAX_ENTRIES}: refused"
            )


def limits(manifest: Manifest) -> Limits:
    """The manifest's declared sizes, the ceilings where it declares none."""
    tree = MAX_TREE if manifest.tree_size is None else manifest.tree_size
    entries = MAX_ENTRIES if manifest.entries is None else manifest.entries
    files = entries if manifest.files is None else manifest.files
    declared = None not in (manifest.tree_size, manifest.files, manifest.entries)
    return Limits(
        bytes=tree,
        files=files,
        entries=entries,
        names=MAX_NAMES,
        stream=tree + entries * PER_ENTRY + SLACK,
        origin="what its manifest declares" if declared else "the most an artifact may hold",
    )


def require_declared(manifest: Manifest, totals: Totals) -> None:
    """The content must hold exactly what the manifest declares (pack writes both)."""
    for what, declared, found in (
        ("bytes of files", manifest.tree_size, totals.bytes),
        ("files", manifest.files, totals.files),
        ("entries", manifest.entries, totals.entries),
    ):
        if declared is not None and declared != found:
            raise InvalidInput(
                f"artifact content holds {found} {what}; its manifest declares {declared}: refused"
            )
