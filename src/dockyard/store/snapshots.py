"""Snapshotters: unpacked layers keyed by chain ID, and containers' writable layers.

Theory of operation (containerd's model). A snapshot is a row in metadata.db (key, parent,
kind) plus a directory ``<root>/snapshots/<id>/{fs,work}`` named by the row's id:

    prepare(key, parent) -> active     writable; mounts = overlay(upper=fs, lowers=parents)
    commit(name, key)    active -> committed   immutable from then on; may be a parent
    view(key, parent)    -> view       read-only mounts of the parent chain
    remove(key)          refused while children exist

The snapshotter only *describes* mounts (``Mount`` as data); ``mount()``/``unmount()`` below
perform them with mount(2) or the new mount API, so planning is tested without root.

Crash safety: directories are built under ``new-*`` (flock-held while being filled), then
renamed to ``<id>`` inside the metadata transaction that inserts the row, so a crash leaves
either a temp directory or a directory without a row; ``cleanup()`` removes both while
holding the database write lock, when no live prepare can be between rename and COMMIT.
Commit is a single row update. Remove deletes the row first and the directory after, so a
crash leaves at worst an orphan directory, never a row without its files.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from .errors import AlreadyExists, InUse, InvalidState, NotFound
from .fsutil import Usage, copy_tree, disk_usage, fsync_dir
from .metadata import Lease, MetadataStore, SnapshotRecord
from .mounts import Mount, overlay_supported, plan_mounts

# Crash tests replace this to stop (or kill) the process at a named point.
checkpoint: Callable[[str], None] = lambda point: None  # noqa: E731


class Snapshotter:
    """What the overlay and copy snapshotters share: rows, directories, crash cleanup."""

    driver = "base"

    def __init__(self, root: str | os.PathLike[str], metadata: MetadataStore) -> None:
        self.root = Path(root) / "snapshots"
        self.root.mkdir(parents=True, exist_ok=True)
        self.metadata = metadata
        self.cleanup()

    # paths

    def _dir(self, snap: SnapshotRecord) -> Path:
        return self.root / str(snap.id)

    def fs_path(self, key: str) -> Path:
        """The directory layers are unpacked into (an active snapshot's upper)."""
        return self._dir(self.stat(key)) / "fs"

    # queries

    def stat(self, key: str) -> SnapshotRecord:
        snap = self.metadata.get_snapshot(key)
        if snap is None:
            raise NotFound("snapshot", key)
        return snap

    def walk(self) -> Iterator[SnapshotRecord]:
        yield from self.metadata.snapshots()

    def usage(self, key: str) -> Usage:
        snap = self.stat(key)
        if snap.kind == "committed" and snap.size is not None and snap.inodes is not None:
            return Usage(snap.size, snap.inodes)  # immutable: measured once, at commit
        return disk_usage(self._dir(snap) / "fs")

    def mounts(self, key: str) -> list[Mount]:
        return self._mounts(self.metadata.snapshot_chain(key))

    # lifecycle

    def prepare(
        self,
        key: str,
        parent: str | None = None,
        labels: dict[str, str] | None = None,
        lease: Lease | None = None,
    ) -> list[Mount]:
        """A new writable snapshot on top of committed ``parent``; its mounts."""
        return self._create("active", key, parent, labels, lease)

    def view(
        self,
        key: str,
        parent: str | None,
        labels: dict[str, str] | None = None,
        lease: Lease | None = None,
    ) -> list[Mount]:
        """A read-only snapshot of committed ``parent``; its mounts."""
        return self._create("view", key, parent, labels, lease)

    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> SnapshotRecord:
        """Active ``key`` becomes committed ``name``: immutable, usable as a parent."""
        snap = self.stat(key)
        if snap.kind != "active":
            raise InvalidState("snapshot", key, snap.kind, "commit")
        if self.metadata.get_snapshot(name) is not None:
            raise AlreadyExists("snapshot", name)
        fs = self._dir(snap) / "fs"
        usage = disk_usage(fs)
        # The row will claim a complete, immutable layer: its files must survive a power
        # loss first (a killed process alone loses nothing that is in the page cache).
        _syncfs(fs)
        checkpoint("commit:measured")
        # One row update: a crash before it leaves the active snapshot, after it the committed.
        return self.metadata.commit_snapshot(key, name, usage.size, usage.inodes, labels)

    def remove(self, key: str) -> None:
        """Remove a snapshot; InUse while other snapshots have it as their parent."""
        with self.metadata.transaction():
            snap = self.stat(key)
            children = self.metadata.snapshot_children(key)
            if children:
                raise InUse("snapshot", key, f"{len(children)} child snapshot(s): {children[0]}")
            self.metadata.delete_snapshot(key)
        checkpoint("remove:deleted")
        # After the row is gone: a crash here leaves an orphan directory, which cleanup() removes.
        _rmtree(self._dir(snap))

    def cleanup(self, min_age: float = 10.0) -> list[str]:
        """Remove crash leftovers: temp directories whose creator is gone (and older than
        ``min_age`` seconds) and directories without a row."""
        removed = []
        for entry in list(os.scandir(self.root)):
            if entry.name.startswith("new-") and self._remove_abandoned(Path(entry.path), min_age):
                removed.append(entry.name)
        # Under the write lock no prepare can be between its rename and its COMMIT.
        with self.metadata.transaction():
            ids = {str(s.id) for s in self.metadata.snapshots()}
            for entry in list(os.scandir(self.root)):
                if entry.name.isdigit() and entry.name not in ids:
                    _rmtree(Path(entry.path))
                    removed.append(entry.name)
        return removed

    # internals

    @staticmethod
    def _remove_abandoned(path: Path, min_age: float = 10.0) -> bool:
        """Remove a temp dir whose creator is gone: its flock is free. The age check covers
        the instant between mkdtemp() and flock() in a live prepare."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if time.time() - os.fstat(fd).st_ctime < min_age:
                return False
            _rmtree(path)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    def _create(
        self,
        kind: str,
        key: str,
        parent: str | None,
        labels: dict[str, str] | None,
        lease: Lease | None,
    ) -> list[Mount]:
        if self.metadata.get_snapshot(key) is not None:
            raise AlreadyExists("snapshot", key)
        parent_snap = self._committed_parent(parent, key)
        # Filled outside the write lock (a copy may take long), flock-held so that a
        # concurrent cleanup() knows it is alive.
        tmp = Path(tempfile.mkdtemp(prefix="new-", dir=self.root))
        lock_fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        final: Path | None = None
        try:
            os.mkdir(tmp / "fs", 0o755)
            self._populate(kind, tmp, parent_snap)
            checkpoint("prepare:populated")
            with self.metadata.transaction():
                # Re-checked under the lock: the parent may have been removed meanwhile.
                self._committed_parent(parent, key)
                try:
                    snap = self.metadata.add_snapshot(key, parent, kind, labels, lease)
                except sqlite3.IntegrityError:
                    raise NotFound("snapshot", str(parent)) from None
                final = self._dir(snap)
                if final.exists():
                    # Left by a crashed prepare whose row (and so its id) was rolled back.
                    _rmtree(final)
                os.rename(tmp, final)
                fsync_dir(self.root)
                checkpoint("prepare:renamed")
        except BaseException:
            _rmtree(tmp)
            if final is not None and self.metadata.get_snapshot(key) is None:
                _rmtree(final)
            raise
        finally:
            os.close(lock_fd)
        return self._mounts(self.metadata.snapshot_chain(key))

    def _committed_parent(self, parent: str | None, key: str) -> SnapshotRecord | None:
        if parent is None:
            return None
        snap = self.metadata.get_snapshot(parent)
        if snap is None:
            raise NotFound("snapshot", parent)
        if snap.kind != "committed":
            raise InvalidState("snapshot", parent, snap.kind, f"use as the parent of {key}")
        return snap

    def _populate(self, kind: str, tmp: Path, parent: SnapshotRecord | None) -> None:
        raise NotImplementedError

    def _mounts(self, chain: Sequence[SnapshotRecord]) -> list[Mount]:
        raise NotImplementedError


class OverlaySnapshotter(Snapshotter):
    """Each snapshot holds one layer's changes; mounts stack the chain with overlayfs."""

    driver = "overlay"

    def __init__(self, root: str | os.PathLike[str], metadata: MetadataStore) -> None:
        super().__init__(root, metadata)
        # Docker and containerd pass index=off where the kernel knows it: with the index on,
        # two mounts sharing a lower layer can refuse to mount after a hard link copy-up.
        self.extra_options: tuple[str, ...] = (
            ("index=off",) if os.path.exists("/sys/module/overlay/parameters/index") else ()
        )

    def _populate(self, kind: str, tmp: Path, parent: SnapshotRecord | None) -> None:
        os.mkdir(tmp / "work", 0o711)

    def _mounts(self, chain: Sequence[SnapshotRecord]) -> list[Mount]:
        if not chain:
            raise NotFound("snapshot", "?")
        snap, parents = chain[0], chain[1:]
        own = self._dir(snap)
        if snap.kind == "committed":
            # A committed snapshot is read-only: its own layer on top of its parents.
            lowers = [str(self._dir(s) / "fs") for s in chain]
            return plan_mounts("view", str(own / "fs"), "", lowers, self.extra_options)
        lowers = [str(self._dir(s) / "fs") for s in parents]
        return plan_mounts(snap.kind, str(own / "fs"), str(own / "work"), lowers,
                           self.extra_options)  # fmt: skip


class CopySnapshotter(Snapshotter):
    """For hosts without overlayfs: every snapshot holds a full tree (Docker's "vfs").

    Layers must then be applied by deleting what whiteouts name rather than by writing
    overlay whiteouts (the archive layer asks ``driver``).
    """

    driver = "copy"

    def _populate(self, kind: str, tmp: Path, parent: SnapshotRecord | None) -> None:
        if parent is None:
            return
        # A view is never written, so hard links are safe and cheap; an active snapshot
        # would write through a hard link into its parent, so it gets a full copy.
        copy_tree(self._dir(parent) / "fs", tmp / "fs", hardlink=(kind == "view"))

    def _mounts(self, chain: Sequence[SnapshotRecord]) -> list[Mount]:
        if not chain:
            raise NotFound("snapshot", "?")
        snap = chain[0]
        mode = "rw" if snap.kind == "active" else "ro"
        return [Mount("bind", str(self._dir(snap) / "fs"), ("rbind", mode))]


def new_snapshotter(
    root: str | os.PathLike[str], metadata: MetadataStore, driver: str = "auto"
) -> Snapshotter:
    """``driver``: "overlay", "copy" or "auto" (overlay when the host supports it here)."""
    if driver == "auto":
        driver = "overlay" if overlay_supported(Path(root) / "snapshots") else "copy"
    if driver == "overlay":
        return OverlaySnapshotter(root, metadata)
    if driver == "copy":
        return CopySnapshotter(root, metadata)
    raise ValueError(f"unknown snapshotter {driver!r}: want overlay, copy or auto")


def chain_key(chain_id: str) -> str:
    """The snapshot key of an unpacked layer stack is its chain ID (containerd's rule)."""
    return chain_id


def _syncfs(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _rmtree(path: Path) -> None:
    """Remove a snapshot directory, including overlay's mode-000 ``work/work``."""

    def retry(func: Callable[..., object], p: str, info: tuple) -> None:
        exc = info[1]
        if isinstance(exc, FileNotFoundError):
            return
        if not isinstance(exc, PermissionError):
            raise exc
        # Only reached without CAP_DAC_OVERRIDE (tests as a user): open it up and retry.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, onerror=retry)
        elif os.path.lexists(p):
            os.unlink(p)

    if path.is_symlink() or not path.exists():
        return
    shutil.rmtree(path, onerror=retry)
