"""The manifest of a release artifact (`releases-artifact.json`): what was built, where, for
which runtime, and the digest of the content. One typed definition and one parser.

The digest is SHA-256 over the payload member (the compressed tar of the release tree) exactly
as stored: checking it needs no decompression, and every host that got the same file reports
the same digest. It proves the archive is the one `pack` wrote (no truncation, no bit flips,
no edit of the payload); it does not prove who wrote it (that is the transport's job: ssh, a CI
artifact store).
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime

from releases_cli.core import jsonfields as jf
from releases_cli.core.clock import iso
from releases_cli.core.errors import InvalidInput
from releases_cli.core.ids import ReleaseId
from releases_cli.core.meta import SourceInfo, read_source

FORMAT = 1
COMPRESSION = "zstd"  # of the payload member (payload.py)
NAME = "releases-artifact.json"
CAP = 64 << 10  # a manifest is a few kilobytes (native module paths are capped)
NATIVE_SHOWN = 20  # native module paths recorded (the count is always exact)
_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm"}


@dataclass(frozen=True)
class Runtime:
    """What native modules are built for: Node's major version, platform, arch and C library
    (names as Node's process.platform / process.arch say them)."""

    node: str | None  # "v20.11.1"; None when no `node` was found
    platform: str
    arch: str
    libc: str | None  # "glibc" / "musl" / None (not Linux, or unknown)

    @property
    def node_major(self) -> str | None:
        return self.node.lstrip("v").split(".")[0] if self.node else None

    def describe(self) -> str:
        return f"Node.js {self.node_major or '?'} {self.platform}-{self.arch} {self.libc or ''}"


def this_runtime(env: dict[str, str] | None = None) -> Runtime:
    """This machine's runtime: `node --version` on PATH, and the platform from Python."""
    try:
        done = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=30, env=env, check=False
        )
        node = done.stdout.strip() if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        node = None
    libc = None
    if sys.platform.startswith("linux"):
        name = platform.libc_ver()[0]
        libc = name or "musl"  # glibc says so; musl gives no name
    machine = platform.machine().lower()
    return Runtime(
        node or None, sys.platform.rstrip("0123456789"), _ARCH.get(machine, machine), libc
    )


@dataclass(frozen=True)
class Manifest:
    """Everything an artifact says about itself."""

    format: int
    id: ReleaseId  # the release id it was built as (NEXT_DEPLOYMENT_ID is baked in)
    digest: str  # "sha256:<hex>" of the payload member
    payload_size: int  # bytes of the payload member
    compression: str  # "zstd"
    source: SourceInfo = field(default_factory=SourceInfo)  # where the code came from
    app: str | None = None  # package.json's name, else the source directory's
    build: tuple[str, ...] = ()  # the build commands run
    lockfile: str | None = None  # its name
    lockfile_sha256: str | None = None
    node: str | None = None  # the runtime of the build machine (see Runtime)
    platform: str = ""
    arch: str = ""
    libc: str | None = None
    native_count: int = 0  # native modules (`*.node`, `binding.gyp`) in the tree
    native: tuple[str, ...] = ()  # the first NATIVE_SHOWN of their paths
    nextjs_build_id: str | None = None
    deployment_id: str | None = None  # NEXT_DEPLOYMENT_ID baked into the build
    tree_size: int | None = None  # bytes of the regular files packed (enforced: bounds.py)
    files: int | None = None  # regular files packed (None: packed before it was recorded)
    entries: int | None = None  # tar members: directories, files and links
    built_at: datetime | None = None
    built_on: str | None = None
    built_by: str | None = None

    @property
    def runtime(self) -> Runtime:
        return Runtime(self.node, self.platform, self.arch, self.libc)

    def source_info(self) -> SourceInfo:
        """The facts a release made from this artifact records as its source."""
        info: SourceInfo = {**self.source, "type": "artifact", "artifact": self.digest}
        if self.built_on:
            info["built_on"] = self.built_on
        if self.built_at:
            info["built_at"] = iso(self.built_at)
        return info


def _integer(value: jf.JsonValue) -> int:
    return jf.integer(value)


CODEC = jf.Codec(jf.BASE_READERS | {int: _integer, SourceInfo: read_source})


CHECK = "manifest_sha256"  # of the manifest's other keys, as _canonical writes them


def encode(manifest: Manifest) -> bytes:
    """The manifest as stored, with the checksum of its own content (the payload's digest does
    not cover it: without the checksum a changed id or coding would pass as the same artifact)."""
    obj = jf.encode(manifest)
    obj[CHECK] = _checksum(obj)
    return json.dumps(obj, indent=1, sort_keys=True).encode()


def _checksum(obj: jf.JsonObject) -> str:
    canonical = json.dumps(obj, indent=1, sort_keys=True).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def _check(obj: jf.JsonObject) -> None:
    """InvalidInput when the manifest's checksum does not match its content. A manifest with
    none was packed before manifests carried one: its payload digest is all there is."""
    found = obj.pop(CHECK, None)
    if found is not None and found != _checksum(obj):
        raise InvalidInput(
            "artifact manifest was changed after it was packed (its checksum does not match); "
            "copy the artifact again"
        )


def parse(data: bytes) -> Manifest:
    """The manifest in `data`; InvalidInput (exit 3) saying what is wrong with it."""
    try:
        obj = jf.loads_object(data)
        version = obj.get("format")
        if version != FORMAT:
            raise InvalidInput(
                f"artifact format {version!r} is not {FORMAT}, the one this releases reads "
                "(pack it with the same version of releases)"
            )
        _check(obj)
        manifest = CODEC.decode(Manifest, obj)
    except jf.Malformed as error:
        raise InvalidInput(f"artifact manifest is malformed: {error}") from None
    if not manifest.digest.startswith("sha256:") or manifest.payload_size < 0:
        raise InvalidInput("artifact manifest is malformed: no sha256 digest of the content")
    if manifest.compression != COMPRESSION:
        raise InvalidInput(
            f"artifact content is compressed with {manifest.compression[:40]!r}; this releases "
            f"reads {COMPRESSION} only"
        )
    return manifest


def require_runnable(manifest: Manifest, here: Runtime) -> None:
    """Refuse an artifact whose native modules were built for another runtime. Without native
    modules JavaScript runs anywhere Node does, so nothing is checked."""
    if manifest.native_count == 0:
        return
    built = manifest.runtime
    wanted = (built.node_major, built.platform, built.arch, built.libc)
    have = (here.node_major, here.platform, here.arch, here.libc)
    if wanted != have:
        example = manifest.native[0] if manifest.native else "?"
        raise InvalidInput(
            f"artifact carries {manifest.native_count} native module(s) (e.g. {example}) built "
            f"for {built.describe().strip()}; this host is {here.describe().strip()}: "
            "pack on a machine like the servers"
        )
