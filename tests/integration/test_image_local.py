"""import, commit and export on a real overlay store."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.image.bootstrap import build_busybox_rootfs
from dockyard.image.bootstrap_image import bootstrap_busybox
from dockyard.image.local import commit_snapshot, export_snapshot, import_image
from dockyard.image.store import ImageStore
from dockyard.store.mounts import mount, unmount

pytestmark = pytest.mark.root


@pytest.fixture
def store(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    opened = ImageStore(tmp_path / "store")
    yield opened
    opened.close()


def names_in(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.removeprefix("./") for m in tar.getmembers()}


def test_import_a_rootfs_tarball_with_changes(store, tmp_path):
    rootfs = build_busybox_rootfs(tmp_path / "rootfs")
    archive = tmp_path / "rootfs.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(rootfs, arcname=".")
    with open(archive, "rb") as source:
        image = import_image(store, source, tags=["imported:1"],
                             changes=['CMD ["echo", "hi"]', "ENV A=1"], message="from a test")
    inspect = store.inspect("imported:1")
    assert inspect["Id"] == image.id
    assert inspect["Config"]["Cmd"] == ["echo", "hi"]
    assert "A=1" in inspect["Config"]["Env"]
    assert inspect["Comment"] == "from a test"
    assert (store.snapshots.fs_path(image.chain_ids[-1]) / "bin" / "busybox").is_file()


def test_commit_a_writable_snapshot_then_export(store, tmp_path):
    bootstrap_busybox(store, "busybox:latest")
    base = store.resolve("busybox")
    mounts = store.snapshots.prepare("container-1", base.chain_ids[-1])
    merged = tmp_path / "merged"
    merged.mkdir()
    mount(mounts, str(merged))
    try:
        (merged / "hello").write_text("hi\n")
        (merged / "bin" / "ls").unlink()
    finally:
        unmount(str(merged))
    image = commit_snapshot(store, "container-1", base=base, tags=["committed:1"],
                            changes=["CMD ls"], author="tester", message="two changes")
    assert len(image.diff_ids) == 2 and image.diff_ids[0] == base.diff_ids[0]
    history = store.history("committed:1")
    assert history[0]["Comment"] == "two changes"
    inspect = store.inspect("committed:1")
    assert inspect["Author"] == "tester"
    assert inspect["Config"]["Cmd"] == ["/bin/sh", "-c", "ls"]
    store.snapshots.view("export-view", image.chain_ids[-1])
    out = io.BytesIO()
    export_snapshot(store, "export-view", out)
    names = names_in(out.getvalue())
    assert "hello" in names and "bin/busybox" in names
    assert "bin/ls" not in names
    store.snapshots.remove("export-view")
    store.snapshots.remove("container-1")
