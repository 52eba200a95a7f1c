"""The one tree walker (core/tree.py) and the copy built on it, on real trees: every kind of
entry is copied like `cp -a` or skipped, nothing is followed, sparse files stay sparse, and no
descriptor is left open, whatever the tree holds."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from hostile import make_outside, no_hang, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from releases_cli.core import safefs, tree
from releases_cli.core.tree import Kind, copy_tree, regular_files, tree_size, walk

NAMES = st.sampled_from(["a", "b", "c", ".git", "node_modules", "d e", "ü"])
ENTRY = st.tuples(
    st.lists(NAMES, min_size=1, max_size=3),
    st.sampled_from(["dir", "file", "exe", "ro-dir", "fifo", "link-out", "link-up", "link-in",
                     "hardlink", "sparse"]),
    st.binary(max_size=300),
)  # fmt: skip


def _plant(src: Path, outside: Path, spec: list[tuple[list[str], str, bytes]]) -> None:
    first_file: Path | None = None
    read_only = []
    for parts, kind, data in spec:
        path = src.joinpath(*parts)
        parent = path.parent
        if not (parent.is_dir() and not parent.is_symlink()) or os.path.lexists(path):
            continue
        if kind in ("dir", "ro-dir"):
            path.mkdir()
            if kind == "ro-dir":
                read_only.append(path)
        elif kind in ("file", "exe"):
            path.write_bytes(data)
            path.chmod(0o755 if kind == "exe" else 0o640)
            first_file = first_file or path
        elif kind == "sparse":
            with open(path, "wb") as out:
                out.seek(1 << 20)
                out.write(data or b"x")
                out.truncate(3 << 20)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "hardlink" and first_file is not None:
            path.hardlink_to(first_file)
        elif kind == "link-out":
            path.symlink_to(outside / "dir")
        elif kind == "link-up":
            path.symlink_to("../" * len(parts) + "outside/secret.txt")
        elif kind == "link-in":
            path.symlink_to(".")
    for path in reversed(read_only):  # after their contents were made
        path.chmod(0o555)


def _expected(src: Path, excluded: frozenset[str]) -> dict[str, str]:
    """What `cp -a` minus the excluded names, FIFOs and devices gives, as a snapshot."""
    state = {}
    for rel, what in snapshot(src).items():
        parts = Path(rel).parts
        if rel == "." or any(p in excluded for p in parts):
            continue
        kind = int(what.split(":", 1)[0], 8)
        if kind in (stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK):
            state[rel] = what
    return state


def _comparable(state: dict[str, str]) -> dict[str, str]:
    """Symlink mtimes are not kept (like `cp -a` without root); everything else must match."""
    return {
        rel: what if not what.startswith(f"{stat.S_IFLNK:o}:") else _drop_mtime(what)
        for rel, what in state.items()
    }


def _drop_mtime(what: str) -> str:
    kind, mode, _mtime, rest = what.split(":", 3)
    return f"{kind}:{mode}:{rest}"


def _restore_writable(path: Path) -> None:
    for top, dirs, _files in os.walk(path):
        for name in dirs:
            full = os.path.join(top, name)
            if not os.path.islink(full):
                os.chmod(full, 0o755)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.lists(ENTRY, max_size=16), exclude=st.booleans())
def test_copy_is_cp_a_without_following_anything(
    spec: list[tuple[list[str], str, bytes]], exclude: bool
) -> None:
    """Hypothesis: for any tree of files (modes, sparse, hardlinked), read-only directories,
    FIFOs and links out of the tree, up and in, `copy_tree` makes exactly the regular files,
    directories and links (same bytes, modes, mtimes, link targets) minus the excluded names,
    skips FIFOs, leaves the outside untouched, never blocks, and `tree_size` / `regular_files`
    agree with a walk that never follows a link."""
    with tempfile.TemporaryDirectory() as tmp:
        outside = make_outside(Path(tmp) / "outside")
        src, dest = Path(tmp) / "src", Path(tmp) / "dest"
        src.mkdir()
        dest.mkdir()
        _plant(src, outside, spec)
        excluded = tree.EXCLUDED_NAMES if exclude else frozenset()
        before = snapshot(outside)
        try:
            with no_hang():
                copy_tree(src, dest, excluded)
            copied = {k: v for k, v in snapshot(dest).items() if k != "."}
            assert _comparable(copied) == _comparable(_expected(src, excluded))
            assert snapshot(outside) == before
            assert tree_size(src) == _du(src)
            assert regular_files(src) == sorted(
                rel for rel, what in _expected(src, frozenset()).items()
                if int(what.split(":", 1)[0], 8) == stat.S_IFREG
            )  # fmt: skip
            for rel in copied:
                if (src / rel).is_file() and not (src / rel).is_symlink():
                    assert (dest / rel).stat().st_blocks <= (src / rel).stat().st_blocks
        finally:
            _restore_writable(src)
            _restore_writable(dest)


def _du(path: Path) -> int:
    """Bytes on disk under `path` (not itself), hardlinks once, links not followed."""
    seen = set()
    total = 0
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            st_ = os.lstat(os.path.join(top, name))
            if st_.st_nlink > 1 and not stat.S_ISDIR(st_.st_mode):
                if (st_.st_dev, st_.st_ino) in seen:
                    continue
                seen.add((st_.st_dev, st_.st_ino))
            total += st_.st_blocks * 512
    return total


@settings(max_examples=30, deadline=None)
@given(
    extents=st.lists(st.tuples(st.integers(0, 64), st.integers(1, 3 * 4096)), max_size=5),
    tail=st.integers(0, 64),
)
def test_sparse_files_stay_sparse(extents: list[tuple[int, int]], tail: int) -> None:
    """Hypothesis: a file with data at random places (offsets in 64 KiB steps) and holes
    between, before and after them is copied byte for byte, to the same size, with no more
    blocks on disk than the source: holes are not written out."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dest = Path(tmp) / "src", Path(tmp) / "dest"
        src.mkdir()
        dest.mkdir()
        with open(src / "f", "wb") as out:
            for step, length in extents:
                out.seek(step * 65536)
                out.write(os.urandom(length))
            out.truncate(max(out.tell(), tail * 65536))
        copy_tree(src, dest)
        a, b = (src / "f").stat(), (dest / "f").stat()
        assert (dest / "f").read_bytes() == (src / "f").read_bytes()
        assert b.st_size == a.st_size
        assert b.st_blocks <= a.st_blocks


def test_a_large_sparse_file_is_copied_without_its_holes(tmp_path: Path) -> None:
    """A 4 GiB file holding 8 KiB of data takes a few blocks in the copy, not 4 GiB."""
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    with open(src / "disk.img", "wb") as out:
        out.write(b"head" * 1024)
        out.seek(4 << 30)
        out.write(b"tail" * 1024)
    copy_tree(src, dest)
    assert (dest / "disk.img").stat().st_size == (src / "disk.img").stat().st_size
    assert (dest / "disk.img").stat().st_blocks * 512 < 1 << 20
    with open(dest / "disk.img", "rb") as copied:
        assert copied.read(4096) == b"head" * 1024
        copied.seek(4 << 30)
        assert copied.read() == b"tail" * 1024


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_no_descriptor_is_left_open_when_a_consumer_stops_or_fails(tmp_path: Path) -> None:
    """Walking stops early (a break, an exception, a copy failing half-way): every directory
    descriptor the walk opened is closed again."""
    for index in range(5):
        (tmp_path / "t" / f"d{index}" / "deeper" / "deepest").mkdir(parents=True)
        (tmp_path / "t" / f"d{index}" / "deeper" / "f").write_text("x")
    before = _open_fds()
    with safefs.dir_at(tmp_path / "t") as top:
        for entry in walk(top):
            if entry.depth == 3:
                break
        with pytest.raises(RuntimeError):
            for entry in walk(top):
                if entry.kind is Kind.FILE:
                    raise RuntimeError("consumer failed")
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "d2").mkdir()  # the copy fails with EEXIST half-way
    with pytest.raises(FileExistsError):
        copy_tree(tmp_path / "t", tmp_path / "dest")
    assert _open_fds() == before


def test_walk_reports_each_directory_before_and_after_its_entries(tmp_path: Path) -> None:
    """DIR comes before a directory's entries and LEAVE after them (what lets the copy set a
    read-only directory's mode last); symlinks to directories are reported, never entered."""
    (tmp_path / "t" / "a" / "b").mkdir(parents=True)
    (tmp_path / "t" / "a" / "b" / "f").write_text("x")
    (tmp_path / "t" / "a" / "link").symlink_to("b")
    with safefs.dir_at(tmp_path / "t") as top:
        steps = [(e.kind, e.rel) for e in walk(top)]
    assert steps.index((Kind.DIR, "a/b")) < steps.index((Kind.FILE, "a/b/f"))
    assert steps.index((Kind.FILE, "a/b/f")) < steps.index((Kind.LEAVE, "a/b"))
    assert steps.index((Kind.LEAVE, "a/b")) < steps.index((Kind.LEAVE, "a"))
    assert (Kind.LINK, "a/link") in steps
    assert not any(rel.startswith("a/link/") for _, rel in steps)


def test_trees_deeper_than_the_limit_are_refused_by_copy_and_measured_by_size(
    tmp_path: Path,
) -> None:
    """A source nested deeper than MAX_DEPTH directories (no real app is) fails the copy with
    an error naming where, instead of running out of descriptors; measuring skips the rest."""
    deep = tmp_path / "src"
    path = deep
    for _ in range(tree.MAX_DEPTH + 2):
        path = path / "d"
    path.mkdir(parents=True)
    (tmp_path / "dest").mkdir()
    with pytest.raises(safefs.UnsafePath, match=f"nested deeper than {tree.MAX_DEPTH}"):
        copy_tree(deep, tmp_path / "dest")
    assert tree_size(deep) > 0


def test_copy_keeps_modes_of_read_only_directories_and_files(tmp_path: Path) -> None:
    """A read-only directory with files inside is copied with its mode set after its contents;
    file modes, setgid-free exec bits and mtimes are those of the source."""
    src = tmp_path / "src"
    (src / "ro").mkdir(parents=True)
    (src / "ro" / "run.sh").write_text("#!/bin/sh\n")
    (src / "ro" / "run.sh").chmod(0o750)
    os.utime(src / "ro" / "run.sh", ns=(1, 1_000_000_000))
    (src / "ro").chmod(0o500)
    (tmp_path / "dest").mkdir()
    try:
        copy_tree(src, tmp_path / "dest")
        copied = tmp_path / "dest" / "ro"
        assert stat.S_IMODE(copied.stat().st_mode) == 0o500
        assert stat.S_IMODE((copied / "run.sh").stat().st_mode) == 0o750
        assert (copied / "run.sh").stat().st_mtime_ns == 1_000_000_000
    finally:
        (src / "ro").chmod(0o755)
        (tmp_path / "dest" / "ro").chmod(0o755)


def test_a_copy_failing_half_way_leaves_no_directory_its_owner_cannot_delete(
    tmp_path: Path,
) -> None:
    """Read-only source directories (0o555, 0o500) get their mode in the copy only once the
    whole tree is made: whichever file the copy fails at, every directory made so far is
    still rwx for its owner, so the half-made release can be removed without privileges."""
    src = tmp_path / "src"
    for top in ("a", "b", "c"):
        (src / top / "inner").mkdir(parents=True)
        for name in ("f1", "f2"):
            (src / top / "inner" / name).write_text(name)
        (src / top / "inner").chmod(0o500)
        (src / top).chmod(0o555)
    try:
        for fail_at in range(6):
            dest = tmp_path / f"dest{fail_at}"
            dest.mkdir()
            with pytest.raises(OSError, match="No space"):
                _copy_failing_after(src, dest, fail_at)
            for top, dirs, _files in os.walk(dest):
                for name in dirs:
                    mode = os.lstat(os.path.join(top, name)).st_mode
                    assert mode & stat.S_IRWXU == stat.S_IRWXU, (fail_at, top, name)
        (tmp_path / "done").mkdir()
        copy_tree(src, tmp_path / "done")
        assert stat.S_IMODE((tmp_path / "done" / "a").stat().st_mode) == 0o555
        assert stat.S_IMODE((tmp_path / "done" / "a" / "inner").stat().st_mode) == 0o500
    finally:
        _restore_writable(src)
        _restore_writable(tmp_path / "done")


def _copy_failing_after(src: Path, dest: Path, files: int) -> None:
    """`mirror` copying `files` files, then failing like a full disk."""
    copied: list[str] = []

    def copy_or_fail(src_dir: int, name: str, dest_dir: int) -> None:
        if len(copied) == files:
            raise OSError(28, "No space left on device")
        tree.copy_file(src_dir, name, dest_dir)
        copied.append(name)

    with safefs.dir_at(src) as src_fd, safefs.dir_at(dest) as dest_fd:
        tree.mirror(src_fd, dest_fd, copy_or_fail)
