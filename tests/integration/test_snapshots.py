"""Real overlay mounts: a layer chain, the merged view, copy-up, whiteouts, commit, views,
chains too long for one page of mount options, and the copying snapshotter's bind mounts."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

import pytest

from dockyard.store import mounts as s
from dockyard.store.metadata import MetadataStore
from dockyard.store.snapshots import CopySnapshotter, OverlaySnapshotter

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root"),
]


def mounted_under(path: Path) -> list[str]:
    prefix = str(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


@pytest.fixture
def data_root(tmp_path):
    """A data root whose mounts are all gone when the test ends, pass or fail."""
    yield tmp_path
    for _ in range(64):  # stacked mounts come off one per umount
        left = mounted_under(tmp_path)
        if not left:
            break
        for point in reversed(left):
            with contextlib.suppress(OSError):
                s.unmount(point, detach=True)
    assert mounted_under(tmp_path) == []


@pytest.fixture
def meta(data_root):
    store = MetadataStore(data_root)
    yield store
    store.close()


@pytest.fixture
def overlay(data_root, meta):
    if not s.overlay_supported(data_root / "snapshots"):
        pytest.skip("overlayfs is not usable here")
    return OverlaySnapshotter(data_root, meta)


@contextlib.contextmanager
def mounted(mounts, target: Path, **kw):
    target.mkdir(exist_ok=True)
    s.mount(mounts, str(target), **kw)
    try:
        yield target
    finally:
        s.unmount(str(target))


def whiteout(path: Path) -> None:
    """What the archive layer writes for `.wh.<name>`: a 0/0 character device."""
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def is_whiteout(path: Path) -> bool:
    st = path.lstat()
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def test_overlay_is_detected(data_root):
    assert s.overlay_supported(data_root / "snapshots")
    assert [p.name for p in (data_root / "snapshots").iterdir()] == []  # probe removed


def test_three_layer_chain_container_layer_commit_and_view(overlay, data_root):
    target = data_root / "merged"

    # Layer 0: no parent, a plain bind mount of its own fs.
    mounts = overlay.prepare("extract-0")
    assert mounts[0].type == "bind"
    with mounted(mounts, target):
        (target / "a").write_text("layer0")
        (target / "gone").write_text("deleted in layer 1")
        (target / "dir").mkdir()
        (target / "dir" / "b").write_text("b")
    overlay.commit("L0", "extract-0")

    # Layer 1 through a real overlay: copy-up on write, a whiteout on delete.
    mounts = overlay.prepare("extract-1", "L0")
    assert mounts[0].type == "overlay"
    with mounted(mounts, target):
        assert (target / "a").read_text() == "layer0"
        (target / "a").write_text("layer1")
        (target / "gone").unlink()
        (target / "c").write_text("c")
    upper = overlay.fs_path("extract-1")
    assert (upper / "a").read_text() == "layer1"
    assert is_whiteout(upper / "gone")
    assert (overlay.fs_path("L0") / "a").read_text() == "layer0"  # the lower is untouched
    overlay.commit("L1", "extract-1")

    # Layer 2 written straight into fs, the way a layer tar is applied.
    overlay.prepare("extract-2", "L1")
    fs = overlay.fs_path("extract-2")
    (fs / "d").write_text("d")
    whiteout(fs / "c")
    overlay.commit("L2", "extract-2")

    # A container's writable layer on the 3-layer chain.
    mounts = overlay.prepare("ctr", "L2")
    assert s.lowerdirs(mounts[0]) == [str(overlay.fs_path(k)) for k in ("L2", "L1", "L0")]
    with mounted(mounts, target):
        assert sorted(os.listdir(target)) == ["a", "d", "dir"]
        assert (target / "a").read_text() == "layer1"
        assert (target / "dir" / "b").read_text() == "b"
        (target / "e").write_text("written by the container")
    assert (overlay.fs_path("ctr") / "e").read_text() == "written by the container"
    assert not any((overlay.fs_path(k) / "e").exists() for k in ("L0", "L1", "L2"))

    # Commit the container layer; a view of it is the full merged tree, read-only.
    committed = overlay.commit("ctr-image", "ctr")
    assert committed.kind == "committed" and committed.size and committed.size > 0
    mounts = overlay.view("ctr-view", "ctr-image")
    assert mounts[0].type == "overlay" and len(s.lowerdirs(mounts[0])) == 4
    with mounted(mounts, target):
        assert sorted(os.listdir(target)) == ["a", "d", "dir", "e"]
        with pytest.raises(OSError) as err:
            (target / "x").write_text("no")
        assert err.value.errno == errno.EROFS

    # Removal goes top-down; the merged target is empty again.
    for key in ("ctr-view", "ctr-image", "L2", "L1", "L0"):
        overlay.remove(key)
    assert list(overlay.walk()) == []
    assert list(overlay.root.iterdir()) == []


@pytest.mark.parametrize("strategy", ["lowerdir+", "fd-paths"])
def test_a_chain_too_long_for_one_page(data_root, meta, strategy):
    # A long data root: 120 absolute lower paths need far more than 4096 bytes.
    root = data_root / ("d" * 120)
    if not s.overlay_supported(root / "snapshots"):
        pytest.skip("overlayfs is not usable here")
    overlay = OverlaySnapshotter(root, meta)
    parent = None
    for i in range(120):
        overlay.prepare(f"x{i}", parent)
        fs = overlay.fs_path(f"x{i}")
        (fs / f"f{i}").write_text(str(i))
        (fs / "top").write_text(str(i))
        overlay.commit(f"L{i}", f"x{i}")
        parent = f"L{i}"
    (m,) = overlay.prepare("ctr", parent)
    assert not s.fits_page(m.options)
    assert s.choose_overlay_strategy(m) == "lowerdir+"

    sys: s.MountSyscalls = s.LinuxMountSyscalls()
    if strategy == "fd-paths":

        class NoLowerdirPlus(s.LinuxMountSyscalls):
            def fsconfig(self, fd: int, key: str, value: str | None) -> None:
                if key == "lowerdir+":
                    raise OSError(errno.EINVAL, "pretend kernel < 6.8")
                super().fsconfig(fd, key, value)

        sys = NoLowerdirPlus()
    target = data_root / "merged"
    with mounted([m], target, sys=sys):
        assert (target / "top").read_text() == "119"
        assert all((target / f"f{i}").read_text() == str(i) for i in range(120))
        (target / "new").write_text("upper")
        info = [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if f" {target} " in line]  # fmt: skip
        assert len(info) == 1 and " overlay " in info[0]
        marker = "lowerdir+=" if strategy == "lowerdir+" else "lowerdir=/proc/self/fd/"
        assert marker in info[0]
    assert (overlay.fs_path("ctr") / "new").read_text() == "upper"


def test_copy_snapshotter_bind_mounts(data_root, meta):
    copy = CopySnapshotter(data_root, meta)
    target = data_root / "merged"
    with mounted(copy.prepare("a"), target):
        (target / "f").write_text("base")
    copy.commit("base", "a")
    with mounted(copy.prepare("ctr", "base"), target):
        assert (target / "f").read_text() == "base"
        (target / "f").write_text("changed")
    assert (copy.fs_path("base") / "f").read_text() == "base"
    with mounted(copy.view("v", "base"), target):
        assert (target / "f").read_text() == "base"
        with pytest.raises(OSError) as err:
            (target / "f").write_text("no")
        assert err.value.errno == errno.EROFS
