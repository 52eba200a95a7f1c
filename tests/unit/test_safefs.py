"""The no-follow primitives (core/safefs.py) on real hostile trees: symlinks to directories and
files outside, escaping relative links, FIFOs, /dev/zero, oversized files. Whatever path is
asked for, nothing outside the base is read, written or deleted, nothing blocks, and every
success is one a plain no-follow walk says is allowed."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile import make_outside, no_hang, snapshot
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from releases_cli.core import safefs
from releases_cli.core.safefs import UnsafePath

# Names and kinds a hostile tree is made of. Every link kind points somewhere a follower would
# leave the base (or, "inner", somewhere inside it).
NAMES = st.sampled_from(["a", "b", "c"])
KINDS = st.sampled_from(
    ["dir", "file", "fifo", "link-dir-out", "link-file-out", "link-fifo-out", "link-up",
     "link-zero", "link-inner"]
)  # fmt: skip
TREE = st.lists(st.tuples(st.lists(NAMES, min_size=1, max_size=2), KINDS), max_size=14)
RELS = st.lists(NAMES, min_size=1, max_size=3).map("/".join)


def _plant(base: Path, outside: Path, spec: list[tuple[list[str], str]]) -> None:
    """Make the tree `spec` describes under `base` (entries whose parent is not a directory we
    made are left out, as on a real filesystem)."""
    for parts, kind in spec:
        path = base.joinpath(*parts)
        if not _plain_dir(base, path.parent) or os.path.lexists(path):
            continue
        if kind == "dir":
            path.mkdir()
        elif kind == "file":
            path.write_text(f"inside {'/'.join(parts)}\n")
        elif kind == "fifo":
            os.mkfifo(path)
        else:
            target = {
                "link-dir-out": str(outside / "dir"),
                "link-file-out": str(outside / "secret.txt"),
                "link-fifo-out": str(outside / "fifo"),
                "link-up": "../" * len(parts) + "../outside/dir",
                "link-zero": "/dev/zero",
                "link-inner": ".",
            }[kind]
            path.symlink_to(target)


def _plain_dir(base: Path, path: Path) -> bool:
    """True when every component from `base` to `path` is a real directory (no link)."""
    current = base
    for part in path.relative_to(base).parts:
        current = current / part
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return False
        except OSError:
            return False
    return True


def _model(base: Path, rel: str) -> os.stat_result | None:
    """What a no-follow walk finds at `base/rel`: None when a parent is not a real directory
    or nothing is there."""
    path = base / rel
    if not _plain_dir(base, path.parent):
        return None
    try:
        return os.lstat(path)
    except OSError:
        return None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=TREE, ops=st.lists(st.tuples(st.integers(0, 5), RELS), max_size=8))
def test_no_operation_reaches_outside_the_base(
    spec: list[tuple[list[str], str]], ops: list[tuple[int, str]]
) -> None:
    """Hypothesis: on any tree of directories, files, FIFOs and links (out, up, to /dev/zero,
    to a FIFO), every read, create, replace, unlink, remove and mkdir by relative path either
    does what a no-follow walk allows or raises OSError; the outside tree never changes and no
    call blocks."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        outside = make_outside(Path(tmp) / "outside")
        _plant(base, outside, spec)
        before = snapshot(outside)
        with no_hang():
            for op, rel in ops:
                _apply(base, op, rel)
            for parts, _kind in spec:  # and read back whatever the tree holds
                _apply(base, 0, "/".join(parts))
        assert snapshot(outside) == before


OPS = ("read", "write_new", "replace", "unlink", "remove_tree", "mkdir")


def _apply(base: Path, op: int, rel: str) -> None:
    found = _model(base, rel)
    parent_ok = _plain_dir(base, (base / rel).parent)
    try:
        if op == 0:
            data = safefs.read_file(base, rel, cap=1 << 16)
            assert found is not None and stat.S_ISREG(found.st_mode)
            assert data == (base / rel).read_bytes()
        elif op == 1:
            safefs.write_new(base, rel, b"new\n")
            assert found is None and parent_ok
        elif op == 2:
            safefs.replace_file(base, rel, b"replaced\n")
            assert parent_ok
            assert found is None or not stat.S_ISDIR(found.st_mode)
        elif op == 3:
            removed = safefs.unlink_file(base, rel)
            assert removed == (found is not None)
        elif op == 4:
            safefs.remove_tree(base, rel)
        else:
            os.close(safefs.open_dir(base, rel, create=True))
    except OSError:
        event(f"{OPS[op]} refused")
        return
    event(f"{OPS[op]} done")


def test_read_file_refuses_links_fifos_devices_and_big_files(tmp_path: Path) -> None:
    """A symlink (to a regular file, a FIFO or /dev/zero) is never opened, a FIFO or directory
    is never read, a file over the cap is an error naming it; a plain file is read."""
    outside = make_outside(tmp_path / "outside")
    base = tmp_path / "release"
    base.mkdir()
    (base / "ok.json").write_text("{}")
    (base / "to-secret").symlink_to(outside / "secret.txt")
    (base / "to-fifo").symlink_to(outside / "fifo")
    (base / "to-zero").symlink_to("/dev/zero")
    os.mkfifo(base / "fifo")
    (base / "dir").mkdir()
    with open(base / "huge", "wb") as huge:
        huge.truncate(1 << 40)  # a sparse terabyte: only the cap keeps this from eating memory
    with no_hang():
        assert safefs.read_file(base, "ok.json", cap=10) == b"{}"
        for name in ("to-secret", "to-fifo", "to-zero"):
            with pytest.raises(UnsafePath, match="is a symlink"):
                safefs.read_file(base, name, cap=1 << 20)
        for name in ("fifo", "dir"):
            with pytest.raises(UnsafePath, match="not a regular file"):
                safefs.read_file(base, name, cap=1 << 20)
        with pytest.raises(UnsafePath, match=r"huge is larger than 1,024 bytes") as error:
            safefs.read_file(base, "huge", cap=1024)
        assert error.value.errno == errno.EFBIG
        with pytest.raises(FileNotFoundError):
            safefs.read_file(base, "absent", cap=10)


def test_parent_links_are_refused_with_the_path_named(tmp_path: Path) -> None:
    """`.next -> /elsewhere`: reading, writing or deleting `.next/x` is refused with an error
    naming `.next` as a symlink, and the directory behind it is untouched."""
    outside = make_outside(tmp_path / "outside")
    base = tmp_path / "release"
    base.mkdir()
    (base / ".next").symlink_to(outside / "dir")
    before = snapshot(outside)
    calls: list[Callable[[], object]] = [
        lambda: safefs.read_file(base, ".next/x", 100),
        lambda: safefs.write_new(base, ".next/new", b"x"),
        lambda: safefs.replace_file(base, ".next/x", b"x"),
        lambda: safefs.unlink_file(base, ".next/x"),
        lambda: safefs.open_dir(base, ".next/sub", create=True),
    ]
    for call in calls:
        with pytest.raises(UnsafePath) as error:
            call()
        assert error.value.filename == str(base / ".next")
        assert "is a symlink" in safefs.describe(error.value)
    safefs.remove_tree(base, ".next/x")  # silently nothing
    assert snapshot(outside) == before


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "a/../../x", "a//b", ".", "a/./b", "a\0"])
def test_paths_that_are_not_plain_relative_are_refused(tmp_path: Path, rel: str) -> None:
    """A record naming `..`, an absolute path, empty or `.` components or a NUL is refused
    before anything is opened."""
    (tmp_path / "a").mkdir()
    with pytest.raises(UnsafePath, match="not a plain relative path"):
        safefs.unlink_file(tmp_path, rel + "/f" if rel == "." else rel)


def test_base_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    """A release directory swapped for a link is not a release: refused, unless the caller
    says the path is the operator's own (`follow_base`)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    with pytest.raises(UnsafePath, match="is a symlink"):
        safefs.open_dir(tmp_path / "link")
    os.close(safefs.open_dir(tmp_path / "link", follow_base=True))


def test_replace_file_replaces_a_symlink_instead_of_writing_through(tmp_path: Path) -> None:
    """A record path that is a symlink to a file outside is replaced by a regular file; the
    outside file keeps its bytes. No temp file is left behind."""
    outside = make_outside(tmp_path / "outside")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "rec.json").symlink_to(outside / "secret.txt")
    safefs.replace_file(tmp_path / "r", "rec.json", b"{}")
    assert (outside / "secret.txt").read_text() == "secret\n"
    assert not (tmp_path / "r" / "rec.json").is_symlink()
    assert os.listdir(tmp_path / "r") == ["rec.json"]


def test_link_file_never_leaves_a_symlink(tmp_path: Path) -> None:
    """Hardlinking by name from a directory where the name is a symlink takes the new link back
    out: only regular files are ever linked."""
    (tmp_path / "src").mkdir()
    (tmp_path / "dst").mkdir()
    (tmp_path / "src" / "evil.js").symlink_to("/etc/passwd")
    with (
        safefs.dir_at(tmp_path / "src") as src,
        safefs.dir_at(tmp_path / "dst") as dst,
        pytest.raises(UnsafePath),
    ):
        safefs.link_file(src, "evil.js", dst, "evil.js")
    assert os.listdir(tmp_path / "dst") == []
