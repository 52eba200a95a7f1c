"""The pure parts of the git source: URL and ref checks, redaction, submodule URLs, and the
tar extraction that refuses entries escaping the release."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from releases_cli.core.errors import InvalidInput, SourceFailed
from releases_cli.sources.git.safety import (
    absolute_url,
    check_ref,
    check_url,
    git_env,
    looks_like_sha,
    redact,
)
from releases_cli.sources.git.source import join_url
from releases_cli.sources.tarstream import extract_stream


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/shop.git",
        "http://127.0.0.1:8080/shop.git",
        "ssh://git@github.com:22/acme/shop.git",
        "git+ssh://git@host/shop.git",
        "git://127.0.0.1/shop.git",
        "file:///srv/git/shop.git",
        "git@github.com:acme/shop.git",
        "/srv/git/shop",
        "./shop",
        "../repos/shop.git",
    ],
)
def test_ordinary_urls_are_accepted(url: str) -> None:
    """Every transport a deploy legitimately uses passes the check unchanged."""
    assert check_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c id",
        "fd::3",
        "EXT::sh",
        "persistent-https::https://host/x",
        "-uupload",
        "--upload-pack=id",
        "ssh://-oProxyCommand=id/x",
        "ssh://git@-oProxyCommand=id/x",
        "-oProxyCommand=id@host:x",
        "host@-x:path",
        "ftp://host/x",
        "rsync://host/x",
        "https://host/x\rid",
        "",
    ],
)
def test_unsafe_urls_are_refused(url: str) -> None:
    """Command-running transports, option-like URLs or hosts, other schemes, control
    characters and the empty string: InvalidInput (exit 3)."""
    with pytest.raises(InvalidInput):
        check_url(url)


@pytest.mark.parametrize("ref", ["main", "feature/x", "v1.2.3", "refs/tags/v1", "a1b2c3d", "HEAD"])
def test_plain_refs_are_accepted(ref: str) -> None:
    """Branches, tags (also fully qualified), shas and HEAD pass."""
    assert check_ref(ref) == ref


@pytest.mark.parametrize(
    "ref",
    [
        "-x",
        "--upload-pack=id",
        "main~1",
        "main^",
        "a..b",
        "@{u}",
        "x y",
        "x\ny",
        ".hidden",
        "x.lock",
    ],
)
def test_unsafe_or_expression_refs_are_refused(ref: str) -> None:
    """Option-like refs and revision expressions are refused."""
    with pytest.raises(InvalidInput):
        check_ref(ref)


@pytest.mark.parametrize(
    ("ref", "is_sha"),
    [("abc1", True), ("A" * 40, True), ("abc1\n", False), ("abc", False), ("a" * 41, False)],
)
def test_only_whole_hex_strings_are_taken_for_shas(ref: str, is_sha: bool) -> None:
    """A sha is 4-40 hex digits and nothing else: a trailing newline (which `$` lets through)
    makes it a name to resolve, not a sha to look up."""
    assert looks_like_sha(ref) is is_sha


def test_redaction_hides_passwords_but_keeps_the_rest() -> None:
    """A token in an https URL never reaches meta, history or messages."""
    assert redact("https://bot:s3cret@host/x.git") == "https://bot:***@host/x.git"
    assert redact("https://bot@host/x.git") == "https://bot@host/x.git"
    assert redact("git@host:x.git") == "git@host:x.git"


def test_local_paths_are_made_absolute_urls_are_not(tmp_path: Path) -> None:
    """git runs inside the mirror, so a relative path is resolved against our cwd first."""
    assert absolute_url("shop") == str(Path.cwd() / "shop")
    for url in ("https://h/x", "git@h:x", "file:///x", "--upload-pack=x"):
        assert absolute_url(url) == url


def test_git_env_appends_to_the_users_config_variables() -> None:
    """Our protocol.ext.allow=never is added after config the user passes through GIT_CONFIG_*."""
    env = git_env({"GIT_CONFIG_COUNT": "2"})
    assert env["GIT_CONFIG_COUNT"] == "3"
    assert (env["GIT_CONFIG_KEY_2"], env["GIT_CONFIG_VALUE_2"]) == ("protocol.ext.allow", "never")
    assert env["GIT_ALLOW_PROTOCOL"] == "https:http:ssh:git:file"
    assert git_env({"GIT_TERMINAL_PROMPT": "1"})["GIT_TERMINAL_PROMPT"] == "1"


@pytest.mark.parametrize(
    ("base", "relative", "expected"),
    [
        ("https://h/org/app.git", "../lib.git", "https://h/org/lib.git"),
        ("git@h:org/app.git", "../lib.git", "git@h:org/lib.git"),
        ("git@h:app.git", "../lib.git", "git@h:lib.git"),
        ("/srv/git/app", "../lib", "/srv/git/lib"),
        ("file:///srv/app/", "./sub", "file:///srv/app/sub"),
    ],
)
def test_relative_submodule_urls_resolve_like_git(base: str, relative: str, expected: str) -> None:
    """`../x` in .gitmodules is relative to the superproject's URL, as git resolves it."""
    assert join_url(base, relative) == expected


def test_relative_submodule_url_cannot_climb_above_the_host() -> None:
    """`../../x` above https://h/ or host: is an error, not a different host."""
    for base in ("https://h/app", "git@h:app"):
        with pytest.raises(SourceFailed):
            join_url(base, "../../x")


def _tar(*members: tuple[str, bytes | str | None]) -> io.BytesIO:
    """A tar stream: (name, bytes) a file, (name, None) a directory, (name, str) a symlink."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, body in members:
            info = tarfile.TarInfo(name)
            if body is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            elif isinstance(body, str):
                info.type, info.linkname = tarfile.SYMTYPE, body
                archive.addfile(info)
            else:
                info.size = len(body)
                archive.addfile(info, io.BytesIO(body))
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    "members",
    [
        [("../escape.txt", b"x")],
        [("/abs.txt", b"x")],
        [("a/./b", b"x")],
        [("nodir/file.txt", b"x")],  # its directory was never created by the archive
        [("link", "/tmp"), ("link/file.txt", b"x")],  # through a symlink
    ],
)
def test_extraction_refuses_entries_outside_the_release(
    tmp_path: Path, members: list[tuple[str, bytes | str | None]]
) -> None:
    """Entries that would land outside the release (or through a symlink) are refused and
    nothing is written outside it."""
    dest = tmp_path / "release"
    dest.mkdir()
    with pytest.raises(SourceFailed, match="refusing archive entry"):
        extract_stream(_tar(*members), dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"]


def test_extraction_writes_files_dirs_links_and_exec_bits(tmp_path: Path) -> None:
    """What `git archive` produces comes out as `tar -x` would make it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, mode, body in (("bin/", 0o775, None), ("bin/run", 0o775, b"#!/bin/sh\n")):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mode, info.mtime = mode, 1_700_000_000
            if body is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(body)
                archive.addfile(info, io.BytesIO(body))
        link = tarfile.TarInfo("run-link")
        link.type, link.linkname = tarfile.SYMTYPE, "bin/run"
        archive.addfile(link)
    buffer.seek(0)
    assert extract_stream(buffer, tmp_path) == 1
    assert (tmp_path / "bin" / "run").read_bytes() == b"#!/bin/sh\n"
    assert (tmp_path / "bin" / "run").stat().st_mode & 0o100
    assert (tmp_path / "bin" / "run").stat().st_mtime == 1_700_000_000
    assert (tmp_path / "run-link").readlink() == Path("bin/run")


@pytest.mark.parametrize("tar_format", [tarfile.USTAR_FORMAT, tarfile.PAX_FORMAT])
def test_long_names_and_link_targets_survive(tmp_path: Path, tar_format: int) -> None:
    """Paths over 100 bytes (ustar prefix field, or a pax record, as git writes them) and long
    or non-ASCII symlink targets come out intact."""
    deep = "d" * 90
    name = f"{deep}/{'f' * 60}.txt"
    target = "t" * 80 + "-é" if tar_format == tarfile.PAX_FORMAT else "t" * 99
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as archive:
        folder = tarfile.TarInfo(deep)
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
        info = tarfile.TarInfo(name)
        info.size = 5
        archive.addfile(info, io.BytesIO(b"hello"))
        link = tarfile.TarInfo(f"{deep}/link")
        link.type, link.linkname = tarfile.SYMTYPE, target
        archive.addfile(link)
    buffer.seek(0)
    assert extract_stream(buffer, tmp_path) == 1
    assert (tmp_path / name).read_bytes() == b"hello"
    assert (tmp_path / deep / "link").readlink() == Path(target)


def test_truncated_archive_is_an_error(tmp_path: Path) -> None:
    """A stream that ends early (git killed) fails the export instead of looking complete."""
    whole = _tar(("a.txt", b"x" * 2000)).getvalue()
    with pytest.raises(SourceFailed, match="ended early"):
        extract_stream(io.BytesIO(whole[:1024]), tmp_path)


class _Generated(io.RawIOBase):
    """`head`, then `size` zero bytes made on demand (never all in memory), then `tail`;
    records the largest single read asked of it."""

    def __init__(self, head: bytes, size: int, tail: bytes = b"") -> None:
        super().__init__()
        self._parts = [io.BytesIO(head), None, io.BytesIO(tail)]
        self._left, self.largest = size, 0

    def read(self, size: int = -1) -> bytes:
        self.largest = max(self.largest, size)
        for part in self._parts:
            if part is None and self._left:
                count = min(size, self._left)
                self._left -= count
                return bytes(count)
            if part is not None and (data := part.read(size)):
                return data
        return b""


def test_a_large_file_is_copied_in_chunks_not_held_whole(tmp_path: Path) -> None:
    """A member larger than a few MiB is streamed to disk: its bytes arrive intact and no read
    asks for more than a chunk; a header claiming 64 GiB over a short stream fails as "ended
    early" instead of allocating it."""
    info = tarfile.TarInfo("big.bin")
    info.size = 40 << 20
    stream = _Generated(info.tobuf(tarfile.USTAR_FORMAT), info.size, bytes(1024))
    (tmp_path / "a").mkdir()
    assert extract_stream(stream, tmp_path / "a") == 1
    assert (tmp_path / "a" / "big.bin").stat().st_size == 40 << 20
    assert stream.largest <= 1 << 20
    info.size = 64 << 30  # beyond ustar: the size travels in a pax record
    (tmp_path / "b").mkdir()
    with pytest.raises(SourceFailed, match="ended early"):
        extract_stream(_Generated(info.tobuf(tarfile.PAX_FORMAT), 4096), tmp_path / "b")
