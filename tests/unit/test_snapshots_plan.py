"""Snapshot planning without root: mount descriptions, long chains, mount strategies with a
recording fake, the snapshot lifecycle on disk, the copying snapshotter and crash cleanup."""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path

import pytest

from dockyard.store import mounts as mnt
from dockyard.store import snapshots as s
from dockyard.store.errors import AlreadyExists, InUse, InvalidState, NotFound, StoreError
from dockyard.store.metadata import MetadataStore
from dockyard.store.mounts import (
    Mount,
    choose_overlay_strategy,
    fits_page,
    lowerdirs,
    plan_mounts,
    shorten_lowerdirs,
    split_lowerdir,
)
from dockyard.store.snapshots import CopySnapshotter, OverlaySnapshotter

pytestmark = pytest.mark.unit


class RecordingMountSyscalls:
    """Records every call; ``fail`` maps a call name (or "fsconfig:<key>") to an errno."""

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        self.calls: list[tuple] = []
        self.fail = fail or {}
        self.next_fd = 10
        self.open_fds: set[int] = set()

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail:
            raise OSError(self.fail[name], f"{name}: injected")

    def _fd(self) -> int:
        self.next_fd += 1
        self.open_fds.add(self.next_fd)
        return self.next_fd

    def mount(self, source, target, fstype, flags, data):
        self._maybe_fail("mount")
        self.calls.append(("mount", source, target, fstype, flags, data))

    def umount2(self, target, flags):
        self.calls.append(("umount2", target, flags))

    def fsopen(self, fstype):
        self._maybe_fail("fsopen")
        fd = self._fd()
        self.calls.append(("fsopen", fstype, fd))
        return fd

    def fsconfig(self, fd, key, value):
        self._maybe_fail(f"fsconfig:{key}")
        self.calls.append(("fsconfig", key, value))

    def fsmount_move(self, fd, target, readonly):
        self.calls.append(("fsmount_move", target, readonly))

    def open_path(self, path):
        fd = self._fd()
        self.calls.append(("open_path", path, fd))
        return fd

    def close(self, fd):
        self.open_fds.discard(fd)
        self.calls.append(("close", fd))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


# --- mount descriptions --------------------------------------------------------------------------


def test_active_without_parent_is_a_bind_mount():
    assert plan_mounts("active", "/s/1/fs", "/s/1/work", []) == [
        Mount("bind", "/s/1/fs", ("rbind", "rw"))
    ]


def test_active_on_a_chain_is_an_overlay_with_nearest_parent_first():
    (m,) = plan_mounts("active", "/s/4/fs", "/s/4/work", ["/s/3/fs", "/s/2/fs", "/s/1/fs"],
                       ("index=off",))  # fmt: skip
    assert m == Mount(
        "overlay",
        "overlay",
        ("index=off", "redirect_dir=off", "metacopy=off", "workdir=/s/4/work",
         "upperdir=/s/4/fs", "lowerdir=/s/3/fs:/s/2/fs:/s/1/fs"),
    )


def test_views():
    assert plan_mounts("view", "/s/9/fs", "", []) == [Mount("bind", "/s/9/fs", ("rbind", "ro"))]
    assert plan_mounts("view", "/s/9/fs", "", ["/s/1/fs"]) == [
        Mount("bind", "/s/1/fs", ("rbind", "ro"))
    ]
    assert plan_mounts("view", "/s/9/fs", "", ["/s/2/fs", "/s/1/fs"]) == [
        Mount("overlay", "overlay", ("lowerdir=/s/2/fs:/s/1/fs",))
    ]
    with pytest.raises(ValueError):
        plan_mounts("committed", "/x", "/y", [])


def test_separators_in_paths_are_escaped_and_split_back():
    (m,) = plan_mounts("active", "/a,b/fs", "/a,b/work", ["/c:d/fs", "/e\\f/fs", "/g/fs"])
    assert "upperdir=/a\\,b/fs" in m.options
    assert "lowerdir=/c\\:d/fs:/e\\\\f/fs:/g/fs" in m.options
    assert lowerdirs(m) == ["/c:d/fs", "/e\\f/fs", "/g/fs"]
    assert split_lowerdir("a:b") == ["a", "b"]


# --- long chains ---------------------------------------------------------------------------------


def long_chain(n: int, prefix: str = "/var/lib/dockyard/snapshots") -> Mount:
    lowers = [f"{prefix}/{i}/fs" for i in range(n, 0, -1)]
    (m,) = plan_mounts("active", f"{prefix}/{n + 1}/fs", f"{prefix}/{n + 1}/work", lowers)
    return m


def test_page_limit():
    # The kernel copies one page and NUL-terminates it: 4095 bytes of options at most.
    assert fits_page(("a" * 4095,), 4096)
    assert not fits_page(("a" * 4096,), 4096)
    assert fits_page(long_chain(100).options)
    assert not fits_page(long_chain(130).options)


def test_strategy_for_short_and_long_chains():
    assert choose_overlay_strategy(long_chain(3)) == "mount2"
    assert choose_overlay_strategy(long_chain(200)) == "lowerdir+"
    assert choose_overlay_strategy(long_chain(200), lowerdir_plus=False) == "fd-paths"
    # A single path too long for fsconfig also means fd aliases.
    assert choose_overlay_strategy(long_chain(20, "/x" * 150)) == "fd-paths"


def test_shortening_replaces_every_lower_in_order():
    m = long_chain(200)
    aliases = iter(range(100, 400))
    short = shorten_lowerdirs(m, lambda p: f"/proc/self/fd/{next(aliases)}")
    assert lowerdirs(short) == [f"/proc/self/fd/{i}" for i in range(100, 300)]
    assert short.options[:2] == m.options[:2]  # workdir and upperdir untouched
    assert fits_page(short.options)


# --- performing mounts with a recording fake -----------------------------------------------------


def test_a_short_overlay_is_one_mount2_call():
    fake = RecordingMountSyscalls()
    m = long_chain(3)
    mnt.mount([m], "/t", sys=fake)
    assert fake.calls == [("mount", "overlay", "/t", "overlay", 0, ",".join(m.options))]


def test_a_long_overlay_uses_lowerdir_plus_one_layer_per_call():
    fake = RecordingMountSyscalls()
    m = long_chain(200)
    mnt.mount([m], "/t", sys=fake)
    config = [c[1:] for c in fake.calls if c[0] == "fsconfig"]
    assert config[0] == ("source", "overlay")
    assert ("workdir", "/var/lib/dockyard/snapshots/201/work") in config
    lowers = [v for k, v in config if k == "lowerdir+"]
    assert lowers == lowerdirs(m)
    assert fake.names()[-2:] == ["fsmount_move", "close"]
    assert fake.open_fds == set()


def test_without_lowerdir_plus_a_long_overlay_mounts_with_fd_aliases():
    fake = RecordingMountSyscalls(fail={"fsconfig:lowerdir+": errno.EINVAL})
    m = long_chain(200)
    mnt.mount([m], "/t", sys=fake)
    opened = [c for c in fake.calls if c[0] == "open_path"]
    assert [c[1] for c in opened] == lowerdirs(m)
    (call,) = [c for c in fake.calls if c[0] == "mount"]
    data = call[5]
    assert len(data) < 4096
    assert f"lowerdir=/proc/self/fd/{opened[0][2]}:" in data
    assert "upperdir=/var/lib/dockyard/snapshots/201/fs" in data
    assert fake.open_fds == set()  # every alias fd closed after mounting


def test_too_many_layers_even_for_fd_aliases():
    fake = RecordingMountSyscalls(fail={"fsopen": errno.ENOSYS})
    with pytest.raises(StoreError, match="too many"):
        mnt.mount([long_chain(400)], "/t", sys=fake)
    assert fake.open_fds == set()


def test_read_only_bind_needs_a_remount():
    fake = RecordingMountSyscalls()
    mnt.mount([Mount("bind", "/s/1/fs", ("rbind", "ro"))], "/t", sys=fake)
    assert fake.calls == [
        ("mount", "/s/1/fs", "/t", None, mnt.MS_BIND | mnt.MS_REC, None),
        ("mount", None, "/t", None,
         mnt.MS_BIND | mnt.MS_REC | mnt.MS_REMOUNT | mnt.MS_RDONLY, None),
    ]


def test_a_failed_mount_undoes_the_earlier_ones():
    class FailSecond(RecordingMountSyscalls):
        def mount(self, source, target, fstype, flags, data):
            if fstype == "tmpfs":
                raise OSError(errno.EPERM, "no")
            super().mount(source, target, fstype, flags, data)

    fake = FailSecond()
    with pytest.raises(OSError):
        mnt.mount([Mount("bind", "/a", ("rbind",)), Mount("tmpfs", "tmpfs", ("size=1m",))], "/t",
                sys=fake)  # fmt: skip
    assert fake.calls[-1] == ("umount2", "/t", mnt.MNT_DETACH)


def test_unmount():
    fake = RecordingMountSyscalls()
    mnt.unmount("/t", sys=fake)
    mnt.unmount("/t", detach=True, sys=fake)
    assert fake.calls == [("umount2", "/t", 0), ("umount2", "/t", mnt.MNT_DETACH)]


# --- the overlay snapshotter's bookkeeping (no mounts needed) ------------------------------------


@pytest.fixture
def meta(tmp_path):
    store = MetadataStore(tmp_path)
    yield store
    store.close()


@pytest.fixture
def overlay(tmp_path, meta):
    return OverlaySnapshotter(tmp_path, meta)


def build_chain(snaps, n: int) -> list[str]:
    parent, keys = None, []
    for i in range(n):
        snaps.prepare(f"extract-{i}", parent)
        (snaps.fs_path(f"extract-{i}") / f"layer{i}").write_text(str(i))
        snaps.commit(f"chain-{i}", f"extract-{i}")
        parent = f"chain-{i}"
        keys.append(parent)
    return keys


def test_prepare_on_a_three_layer_chain(overlay):
    keys = build_chain(overlay, 3)
    (m,) = overlay.prepare("ctr", keys[-1])
    ids = [overlay.stat(k).id for k in keys]
    ctr = overlay.stat("ctr")
    root = overlay.root
    assert lowerdirs(m) == [str(root / str(i) / "fs") for i in reversed(ids)]
    assert f"upperdir={root / str(ctr.id) / 'fs'}" in m.options
    assert f"workdir={root / str(ctr.id) / 'work'}" in m.options
    assert (root / str(ctr.id) / "fs").is_dir() and (root / str(ctr.id) / "work").is_dir()
    assert overlay.mounts("ctr") == [m]
    assert [x.key for x in overlay.walk()] == [*keys, "ctr"]


def test_first_layer_is_a_bind_and_committed_snapshots_are_read_only(overlay):
    (m,) = overlay.prepare("a")
    assert m.type == "bind" and m.options == ("rbind", "rw")
    overlay.commit("c", "a")
    assert overlay.mounts("c") == [Mount("bind", str(overlay.fs_path("c")), ("rbind", "ro"))]
    (v,) = overlay.view("v", "c")
    assert v == Mount("bind", str(overlay.fs_path("c")), ("rbind", "ro"))


def test_usage_is_measured_and_frozen_at_commit(overlay):
    overlay.prepare("a")
    (overlay.fs_path("a") / "f").write_bytes(b"x" * 10000)
    before = overlay.usage("a")
    assert before.inodes == 2 and before.size >= 10000
    overlay.commit("c", "a")
    assert overlay.usage("c") == before
    assert overlay.stat("c").size == before.size


def test_lifecycle_errors(overlay):
    overlay.prepare("a")
    with pytest.raises(AlreadyExists):
        overlay.prepare("a")
    with pytest.raises(InvalidState):
        overlay.prepare("b", "a")  # an active snapshot cannot be a parent
    with pytest.raises(NotFound):
        overlay.prepare("b", "missing")
    overlay.commit("c", "a")
    with pytest.raises(InvalidState):
        overlay.commit("c2", "c")
    overlay.prepare("x")
    with pytest.raises(AlreadyExists):
        overlay.commit("c", "x")
    overlay.prepare("child", "c")
    with pytest.raises(InUse):
        overlay.remove("c")
    overlay.remove("child")
    path = overlay.root / str(overlay.stat("c").id)
    overlay.remove("c")
    assert not path.exists()
    with pytest.raises(NotFound):
        overlay.stat("c")
    assert {p.name for p in overlay.root.iterdir()} == {str(overlay.stat("x").id)}


def test_cleanup_removes_orphans_and_abandoned_temp_dirs(overlay, tmp_path, meta):
    overlay.prepare("kept")
    kept = str(overlay.stat("kept").id)
    (overlay.root / "999" / "fs").mkdir(parents=True)  # a crashed prepare's directory
    abandoned = overlay.root / "new-abc"
    (abandoned / "work" / "work").mkdir(parents=True)
    os.chmod(abandoned / "work" / "work", 0)
    old = time.time() - 60
    os.utime(abandoned, (old, old))
    fresh = overlay.root / "new-fresh"
    fresh.mkdir()
    removed = overlay.cleanup(min_age=0)
    assert sorted(removed) == ["999", "new-abc", "new-fresh"]
    assert {p.name for p in overlay.root.iterdir()} == {kept}
    fresh.mkdir()
    assert OverlaySnapshotter(tmp_path, meta).cleanup() == []  # too young to be abandoned


def test_a_failed_prepare_leaves_nothing(overlay, monkeypatch):
    def boom(point: str) -> None:
        if point == "prepare:renamed":
            raise RuntimeError("injected")

    monkeypatch.setattr(s, "checkpoint", boom)
    with pytest.raises(RuntimeError):
        overlay.prepare("a")
    assert list(overlay.walk()) == []
    assert list(overlay.root.iterdir()) == []


# --- the copying snapshotter ---------------------------------------------------------------------


@pytest.fixture
def copy(tmp_path, meta):
    return CopySnapshotter(tmp_path, meta)


def test_copy_snapshots_hold_full_trees(copy):
    copy.prepare("a")
    fs = copy.fs_path("a")
    (fs / "dir").mkdir(mode=0o750)
    (fs / "dir" / "file").write_text("one")
    os.chmod(fs / "dir" / "file", 0o4755)
    os.link(fs / "dir" / "file", fs / "hardlink")
    os.symlink("dir/file", fs / "link")
    os.mkfifo(fs / "fifo")
    os.utime(fs / "dir", (1000, 1000))
    copy.commit("c", "a")

    (m,) = copy.prepare("b", "c")
    assert m == Mount("bind", str(copy.fs_path("b")), ("rbind", "rw"))
    b = copy.fs_path("b")
    assert (b / "dir" / "file").read_text() == "one"
    assert stat.S_IMODE((b / "dir" / "file").stat().st_mode) == 0o4755
    assert stat.S_IMODE((b / "dir").stat().st_mode) == 0o750
    assert (b / "dir").stat().st_mtime == 1000
    assert os.readlink(b / "link") == "dir/file"
    assert stat.S_ISFIFO((b / "fifo").lstat().st_mode)
    assert (b / "hardlink").stat().st_ino == (b / "dir" / "file").stat().st_ino
    # A full copy: writing the active snapshot leaves its parent alone.
    assert (b / "dir" / "file").stat().st_ino != (copy.fs_path("c") / "dir" / "file").stat().st_ino
    (b / "dir" / "file").write_text("changed")
    assert (copy.fs_path("c") / "dir" / "file").read_text() == "one"


def test_copy_views_share_inodes_read_only(copy):
    copy.prepare("a")
    (copy.fs_path("a") / "f").write_text("x")
    copy.commit("c", "a")
    (m,) = copy.view("v", "c")
    assert m.options == ("rbind", "ro")
    assert (copy.fs_path("v") / "f").stat().st_ino == (copy.fs_path("c") / "f").stat().st_ino


def test_new_snapshotter_picks_a_driver(tmp_path, meta, monkeypatch):
    assert isinstance(s.new_snapshotter(tmp_path, meta, "copy"), CopySnapshotter)
    assert isinstance(s.new_snapshotter(tmp_path, meta, "overlay"), OverlaySnapshotter)
    for supported, driver in ((True, "overlay"), (False, "copy")):
        monkeypatch.setattr(s, "overlay_supported", lambda root, ok=supported: ok)
        assert s.new_snapshotter(tmp_path, meta, "auto").driver == driver
    with pytest.raises(ValueError):
        s.new_snapshotter(tmp_path, meta, "zfs")


def test_overlay_detection_without_root_or_overlay(tmp_path, monkeypatch):
    monkeypatch.setattr(mnt.os, "geteuid", lambda: 1000)
    assert mnt.overlay_supported(tmp_path) is False  # no probe mount attempted
    assert not Path(tmp_path).exists() or list(Path(tmp_path).iterdir()) == []
