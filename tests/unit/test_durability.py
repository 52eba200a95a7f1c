"""Durability without strace: wrap os.fsync and syncfs (calling through to the real ones) and
check, by inode, that everything a command relies on reached the disk before it returned, in an
order where a power cut at any moment leaves a consistent root."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import quiet

from releases_cli.core import fs as fsutil
from releases_cli.core.layout import DeployRoot
from releases_cli.core.prune import prune_releases
from releases_cli.pipelines.deploy import DeployOptions, deploy
from releases_cli.pipelines.rollback import rollback
from releases_cli.sources.local import LocalSource

Inode = tuple[int, int]


def _inode(path: Path) -> Inode:
    st = os.stat(path)
    return st.st_dev, st.st_ino


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[Inode]:
    """The inodes passed to fsync / syncfs, in call order (the real calls still happen)."""
    calls: list[Inode] = []

    def record(real: Callable[[int], int | None]) -> Callable[[int], int | None]:
        def spy(fd: int) -> int | None:
            st = os.fstat(fd)
            calls.append((st.st_dev, st.st_ino))
            return real(fd)

        return spy

    monkeypatch.setattr(os, "fsync", record(os.fsync))
    monkeypatch.setattr(fsutil, "_syncfs", record(fsutil._syncfs))
    return calls


def test_deploy_makes_tree_meta_switch_and_history_durable_in_order(
    root: Path, app: Path, synced: list[Inode]
) -> None:
    """Before deploy returns: the release tree is flushed, then its meta (file and directory),
    then the root directory holding the new `current` link, then the history line saying so."""
    deploy_root = DeployRoot(root)
    result = deploy(deploy_root, DeployOptions(source=LocalSource(app)), report=quiet)
    release = _inode(root / "releases" / result.id)
    meta = _inode(deploy_root.meta(result.id))
    meta_dir = _inode(deploy_root.meta_dir)
    root_dir = _inode(root)
    history = _inode(deploy_root.history_file)
    for inode in (release, meta, meta_dir, root_dir, history):
        assert inode in synced
    assert synced.index(release) < synced.index(meta) < synced.index(meta_dir)
    assert synced.index(meta_dir) < synced.index(root_dir), "complete before it goes live"
    last_history = len(synced) - 1 - synced[::-1].index(history)
    assert synced.index(root_dir) < last_history, "the switch is recorded after it is durable"


def test_rollback_and_prune_are_durable(root: Path, app: Path, synced: list[Inode]) -> None:
    """Prune fsyncs releases/ after moving a release out, with the history (written ahead)
    already synced; rollback fsyncs the root directory (the new link), then the history."""
    deploy_root = DeployRoot(root)
    for _ in range(3):
        deploy(deploy_root, DeployOptions(source=LocalSource(app), keep=9), report=quiet)
    synced.clear()
    history, releases = _inode(deploy_root.history_file), _inode(deploy_root.releases)
    result = prune_releases(deploy_root, keep=1)
    assert result.deleted
    assert synced.index(history) < synced.index(releases)
    synced.clear()
    rollback(deploy_root)
    root_dir = _inode(root)
    assert synced.index(root_dir) < len(synced) - 1 - synced[::-1].index(history)
