"""VolumeStore on a real SQLite DB and directories (no root: plain volumes only)."""

from __future__ import annotations

import os

import pytest

from dockyard.store.metadata import MetadataStore
from dockyard.volume import copyup
from dockyard.volume.errors import Conflict, InvalidParameter, NotFound
from dockyard.volume.store import VolumeStore

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path):
    meta = MetadataStore(tmp_path / "db")
    events: list[tuple[str, str]] = []
    vs = VolumeStore(meta, str(tmp_path / "volumes"), emit=lambda a, n, _: events.append((a, n)))
    vs.events = events  # type: ignore[attr-defined]
    yield vs
    meta.close()


def test_create_get_remove(store, tmp_path):
    vol, created = store.create("data", labels={"k": "v"})
    assert created and vol["Name"] == "data" and vol["Labels"] == {"k": "v"}
    assert vol["Mountpoint"] == str(tmp_path / "volumes" / "data" / "_data")
    assert os.path.isdir(vol["Mountpoint"]) and vol["Options"] is None
    again, created = store.create("data", labels={"other": "1"})
    assert not created and again == vol
    assert [v["Name"] for v in store.list()] == ["data"]
    store.remove("data")
    assert not os.path.exists(tmp_path / "volumes" / "data")
    with pytest.raises(NotFound, match="get data: no such volume"):
        store.get("data")
    assert store.events == [("create", "data"), ("destroy", "data")]


def test_anonymous(store):
    vol, _ = store.create(anonymous=True)
    assert len(vol["Name"]) == 64 and vol["Labels"] == {"com.docker.volume.anonymous": ""}
    vol, _ = store.create()  # `volume create` without a name: not anonymous for Docker
    assert len(vol["Name"]) == 64 and vol["Labels"] is None


def test_in_use(store):
    store.create("data")
    with pytest.raises(Conflict, match=r"remove data: volume is in use - \[abc\]"):
        store.remove("data", users=["abc"])
    path = store.acquire("data", "c1")
    assert path.endswith("/data/_data")
    with pytest.raises(Conflict):
        store.remove("data")
    store.release("data", "c1")
    store.remove("data")


def test_nothing_half_created(store, tmp_path):
    with pytest.raises(InvalidParameter):
        store.create("bad/name")
    with pytest.raises(InvalidParameter, match='create okname: invalid option: "x"'):
        store.create("okname", opts={"x": "1"})
    assert os.listdir(tmp_path / "volumes") == []
    assert store.list() == []


def test_leftovers_collected_at_open(tmp_path):
    meta = MetadataStore(tmp_path / "db")
    try:
        VolumeStore(meta, str(tmp_path / "volumes")).create("kept")
        os.makedirs(tmp_path / "volumes" / ".tmp-1234" / "_data")
        os.makedirs(tmp_path / "volumes" / "norow" / "_data")
        VolumeStore(meta, str(tmp_path / "volumes"))
        assert os.listdir(tmp_path / "volumes") == ["kept"]
    finally:
        meta.close()


def test_size_counts_each_inode_once(store):
    vol, _ = store.create("data")
    with open(os.path.join(vol["Mountpoint"], "a"), "wb") as f:
        f.write(b"x" * 1000)
    os.link(os.path.join(vol["Mountpoint"], "a"), os.path.join(vol["Mountpoint"], "b"))
    os.mkdir(os.path.join(vol["Mountpoint"], "d"))
    with open(os.path.join(vol["Mountpoint"], "d", "c"), "wb") as f:
        f.write(b"y" * 24)
    assert store.size("data") == 1024


def test_copy_up_stays_in_the_root(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc" / "sub").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0\n")
    os.chmod(root / "etc" / "passwd", 0o640)
    (root / "etc" / "sub" / "f").write_text("f")
    os.link(root / "etc" / "passwd", root / "etc" / "hard")
    os.symlink("/etc/passwd", root / "etc" / "link")
    # An absolute symlink for the mount point resolves inside the root, not on the host.
    os.symlink("/etc", root / "data")
    dst = tmp_path / "vol"
    dst.mkdir()
    assert copyup.copy_up(str(root), "/data", str(dst))
    assert (dst / "passwd").read_text() == "root:x:0:0\n"
    assert os.stat(dst / "passwd").st_mode & 0o777 == 0o640
    assert os.readlink(dst / "link") == "/etc/passwd"
    assert os.stat(dst / "hard").st_ino == os.stat(dst / "passwd").st_ino
    assert (dst / "sub" / "f").read_text() == "f"
    # Not empty any more: nothing copied again; a missing path copies nothing.
    assert not copyup.copy_up(str(root), "/data", str(dst))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not copyup.copy_up(str(root), "/nonexistent", str(empty))
    os.symlink("../../../../../../", root / "up")
    assert copyup.copy_up(str(root), "/up/etc/sub", str(empty))
    assert os.listdir(empty) == ["f"]
