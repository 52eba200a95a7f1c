"""Hostile artifacts through the real CLI: sound containers (right digest) around tar bytes
written by hand, streams that are no artifact, sizes beyond the disk. Each is refused with one
line and its documented exit code before anything is created: the root's snapshot
(hostile.snapshot: every entry's kind, mode, mtime and content) is as before, so no release
directory, meta, history line or spool file was left."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard
from helpers import Cli, cli_env, initialised, releases_argv, start_cli
from hostile import run_limited, snapshot
from mounts import tmpfs
from tarbytes import END, artifact, bomb, header, member, pax, record

from releases_cli.core.errors import SourceFailed
from releases_cli.sources.artifact import container
from releases_cli.sources.artifact import manifest as mf
from releases_cli.sources.artifact.source import ArtifactSource

ONE_FILE = {"tree_size": 1, "files": 1, "entries": 1}


def deploy_from_stdin(root: Path, data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        releases_argv("deploy", "--root", str(root), "--artifact", "-"),
        input=data,
        capture_output=True,
        env=cli_env(None),
        timeout=120,
        check=False,
    )


HOSTILE = [
    pytest.param(pax(b"0 path=x\n") + member("f") + END, {}, "malformed pax", id="pax-len-0"),
    pytest.param(
        pax(record("size", str(1 << 42))) + header(b"f") + END, {}, "claims", id="pax-4-TiB"
    ),
    pytest.param(
        header(b"f", size=b"\x80" + (1 << 45).to_bytes(11, "big")) + END,
        {},
        "claims",
        id="base256-32-TiB",
    ),
    pytest.param(pax(record("mtime", "1e400")) + member("f") + END, {}, "mtime", id="mtime-inf"),
    pytest.param(header(b"f", b"x", 1 << 31) + END, {}, "pax header of", id="pax-of-2-GiB"),
    pytest.param(
        member("f", b"x" * 5000) + END,
        {"tree_size": 100, "files": 1, "entries": 1},
        "more than 100 bytes of data",
        id="bytes-over-declared",
    ),
    pytest.param(
        member("a", b"x") + member("b") + END, ONE_FILE, "more than 1 files", id="files-over"
    ),
    pytest.param(
        member("f", b"x") + END,
        {"tree_size": 1, "files": 1, "entries": 2},
        "holds 1 entries; its manifest declares 2",
        id="fewer-than-declared",
    ),
    pytest.param(
        member("f", b"x") + END + bytes(64 << 20), ONE_FILE, "runs past", id="zero-bomb-64MiB"
    ),
    pytest.param(member("f", b"x") + END + b"junk", ONE_FILE, "after its end", id="data-after"),
    pytest.param(
        b"".join(member("d/" * n, kind=b"5") for n in range(1, 258)) + END,
        {},
        "deeper than 256",
        id="depth-257",
    ),
    pytest.param(member("f") + member("f") + END, {}, "appears twice", id="duplicate"),
    pytest.param(member("f") + END, {"tree_size": 65 << 30}, "at most 64.0 GiB", id="tree-65G"),
    pytest.param(member("f") + END, {"entries": 10**7}, "at most 1000000", id="entries-10M"),
]


@pytest.mark.parametrize(("tar", "declared", "said"), HOSTILE)
def test_hostile_content_with_a_valid_digest_is_refused_before_anything_is_made(
    cli: Cli, tmp_path: Path, tar: bytes, declared: dict[str, int], said: str
) -> None:
    """Headers that looped or overflowed the reader, sizes past what the manifest declares, a
    decompression bomb of zeros, paths too deep or twice: exit 3, one line, root unchanged."""
    crafted = tmp_path / "crafted.artifact"
    crafted.write_bytes(artifact(tar, **declared))
    server = initialised(cli, tmp_path / "server")
    before = snapshot(server)
    result = cli("deploy", "--root", str(server), "--artifact", str(crafted))
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("releases: error: ") and result.stderr.count("\n") == 1
    assert said in result.stderr
    assert snapshot(server) == before


def test_hostile_content_on_stdin_leaves_no_spool_and_nothing_else(
    cli: Cli, tmp_path: Path
) -> None:
    """The same refusal for an artifact arriving on stdin: nothing in the root, not even the
    spool the content was copied to while it was checked."""
    server = initialised(cli, tmp_path / "server")
    before = snapshot(server)
    bomb = artifact(member("f", b"x") + END + bytes(64 << 20), **ONE_FILE)
    result = deploy_from_stdin(server, bomb)
    assert result.returncode == 3, result.stderr
    assert b"runs past" in result.stderr and result.stderr.count(b"\n") == 1
    assert snapshot(server) == before


@pytest.mark.parametrize(
    ("head", "said"),
    [
        pytest.param(b"\x28\xb5\x2f\xfd" + bytes(508), "no ustar magic", id="a-zstd-file"),
        pytest.param(member("index.html", b"<html>"), "first member is 'index.html'", id="a-tar"),
        pytest.param(header(b"releases-artifact.json", size=1 << 30), "more than", id="1G-json"),
    ],
)
def test_a_stream_that_is_no_artifact_is_refused_from_its_first_bytes(
    cli: Cli, tmp_path: Path, head: bytes, said: str
) -> None:
    """An endless stream on stdin that is no artifact is refused after its first block: the
    deploy exits 3 while the writer still has data (it sees a broken pipe), nothing was
    spooled, and the root is unchanged."""
    server = initialised(cli, tmp_path / "server")
    before = snapshot(server)
    deployer = start_cli(
        *["deploy", "--root", str(server), "--artifact", "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert deployer.stdin is not None and deployer.stderr is not None
    written, cap = 0, 256 << 20
    with contextlib.suppress(BrokenPipeError):  # what a writer sees once the reader quit
        deployer.stdin.write(head)
        while written < cap:  # bounded: a reader that spools everything fails the assertion
            deployer.stdin.write(os.urandom(1 << 16))
            written += 1 << 16
    with contextlib.suppress(BrokenPipeError):
        deployer.stdin.close()
    err = deployer.stderr.read().decode()
    assert deployer.wait(timeout=120) == 3, err
    assert written < 16 << 20
    assert said in err and err.count("\n") == 1
    assert snapshot(server) == before


@pytest.fixture
def small_root(tmp_path: Path, cli: Cli) -> object:
    with tmpfs(tmp_path / "small", "4m") as mounted:
        yield initialised(cli, mounted / "server")


def test_a_declared_tree_larger_than_the_free_disk_is_refused_from_the_manifest(
    cli: Cli, tmp_path: Path, small_root: Path
) -> None:
    """A tree that cannot fit is refused (exit 11, the disk named) before its content is read,
    instead of extracting until the disk is full."""
    crafted = tmp_path / "big.artifact"
    crafted.write_bytes(artifact(member("f") + END, tree_size=64 << 20, files=1, entries=1))
    before = snapshot(small_root)
    result = cli("deploy", "--root", str(small_root), "--artifact", str(crafted))
    assert result.returncode == 11, result.stderr
    assert "needs 64.0 MiB for its tree" in result.stderr and result.stderr.count("\n") == 1
    assert snapshot(small_root) == before


def test_content_larger_than_the_free_disk_is_never_spooled(cli: Cli, small_root: Path) -> None:
    """Stdin content that cannot fit on the disk is refused (exit 11) before the spool file is
    made, rather than written until the disk is full (the tree's size is not declared, so
    only the content's is known)."""
    noise = os.urandom(6 << 20)  # incompressible: the content stays 6 MiB
    data = artifact(member("noise", noise) + END)
    before = snapshot(small_root)
    result = deploy_from_stdin(small_root, data)
    assert result.returncode == 11, result.stderr
    assert b"for its content" in result.stderr and result.stderr.count(b"\n") == 1
    assert snapshot(small_root) == before


def test_a_sound_artifact_within_its_declared_sizes_deploys(cli: Cli, tmp_path: Path) -> None:
    """The other side of every refusal above: hand-written content holding exactly what its
    manifest declares deploys, from a file and from stdin."""
    tar = member("d/", kind=b"5") + member("d/a", b"hello") + member("b", b"!") + END
    declared = {"tree_size": 6, "files": 2, "entries": 3}
    crafted = tmp_path / "ok.artifact"
    crafted.write_bytes(artifact(tar, **declared))
    server = initialised(cli, tmp_path / "server")
    result = cli("deploy", "--root", str(server), "--artifact", str(crafted))
    assert result.returncode == 0, result.stderr
    assert (server / "current" / "d" / "a").read_text() == "hello"
    other = initialised(cli, tmp_path / "other")
    assert deploy_from_stdin(other, crafted.read_bytes()).returncode == 0
    assert (other / "current" / "b").read_text() == "!"


def test_pack_declares_exactly_what_the_tree_holds(cli: Cli, app: Path, tmp_path: Path) -> None:
    """`pack` records the tree's bytes, files and entries, and the deploy holds the content to
    them (a pack whose numbers were off would be refused by its own server)."""
    packed = tmp_path / "app.artifact"
    result = cli("pack", "--source", str(app), "-o", str(packed))
    assert result.returncode == 0, result.stderr
    with packed.open("rb") as stream:
        manifest = container.check(stream).manifest
    server = initialised(cli, tmp_path / "server")
    assert cli("deploy", "--root", str(server), "--artifact", str(packed)).returncode == 0
    tree = list((server / "current").resolve().rglob("*"))
    files = [p for p in tree if p.is_file() and not p.is_symlink()]
    assert manifest.files == len(files) and manifest.entries == len(tree)
    assert manifest.tree_size == sum(p.stat().st_size for p in files)


def test_content_past_8_gib_gets_a_header_the_reader_takes() -> None:
    """A content size past ustar's 11 octal digits is written in base-256 (one plain header,
    as GNU tar does), which the checker reads back, rather than in a pax header it refuses.
    (The header alone: writing 9 GiB of content adds nothing to what is checked.)"""
    size = 9 << 30
    manifest = mf.Manifest(mf.FORMAT, "20261101T000000Z", "sha256:0", size, "zstd")
    block = container._header(container.PAYLOAD, size, manifest)
    assert len(block) == 512
    assert container._Reader(io.BytesIO(block)).member() == (container.PAYLOAD, size)
    assert tarfile.TarInfo.frombuf(block, "utf-8", "strict").size == size  # `tar` reads it too


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(header(b"f", size=b"-0000000001\0"), id="negative-size"),
        pytest.param(pax(record("comment", "x")) + header(b"f", size=4 << 30), id="4-GiB-file"),
    ],
)
def test_a_decompression_bomb_is_refused_within_a_memory_cap(
    cli: Cli, tmp_path: Path, head: bytes
) -> None:
    """3 GiB of zeros compressed to a few hundred KiB behind a header whose size was read as
    "all of it" (negative) or that claims more than the declared tree: refused (exit 3) by a
    deploy whose address space is capped at 1 GiB, so nothing was read whole."""
    crafted = tmp_path / "bomb.artifact"
    crafted.write_bytes(bomb(head, 3 << 30, **ONE_FILE))
    server = initialised(cli, tmp_path / "server")
    before = snapshot(server)
    argv = releases_argv("deploy", "--root", str(server))
    result = run_limited([*argv, "--artifact", str(crafted)], cli_env(None))
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1 and "artifact content refused" in result.stderr
    assert snapshot(server) == before


def _skippable(size: int) -> bytes:
    """A zstd skippable frame of `size` bytes in all (decoders pass over it)."""
    return (0x184D2A50).to_bytes(4, "little") + (size - 8).to_bytes(4, "little") + bytes(size - 8)


def test_content_swapped_after_the_check_is_held_to_the_declared_size(tmp_path: Path) -> None:
    """The artifact file is rewritten in place between the check and the extraction (same
    length, a tree claiming 100 MiB where 64 KiB were declared): the extraction stops at the
    declared size with nothing of the oversized file written, and fails (exit 8: the deploy
    records the release failed, `current` unchanged)."""
    noise = os.urandom(64 << 10)
    path = tmp_path / "app.artifact"
    path.write_bytes(artifact(member("f", noise) + END, tree_size=len(noise), files=1, entries=1))
    source = ArtifactSource(str(path))
    source.check(tmp_path)
    with path.open("rb") as stream:
        checked = container.check(stream)
    swapped = zstandard.ZstdCompressor().compress(header(b"f", size=100 << 20) + b"x" * (1 << 20))
    swapped += _skippable(checked.manifest.payload_size - len(swapped))
    with path.open("r+b") as target:  # the same file the source holds open
        target.seek(checked.offset)
        target.write(swapped)
    dest = tmp_path / "release"
    dest.mkdir()
    with pytest.raises(SourceFailed, match="more than 65536 bytes of data") as caught:
        source.export(dest)
    assert caught.value.exit_code == 8
    assert list(dest.iterdir()) == []
