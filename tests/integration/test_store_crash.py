"""Crash safety: a writer killed with SIGKILL at chosen points (and at random instants) leaves
a store that opens cleanly, shows no partial content, and completes the work on retry.

A child process drives the store and, at the point under test, prints ``AT <point>`` and
waits; the test kills it by its PID, then reopens the store in this process.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dockyard.store import gc
from dockyard.store.content import ContentStore, digest_bytes
from dockyard.store.errors import NotFound
from dockyard.store.metadata import ImageRecord, MetadataStore
from dockyard.store.snapshots import CopySnapshotter, OverlaySnapshotter

SRC = Path(__file__).resolve().parents[2] / "src"
CHUNK = 65536
DATA = bytes(range(256)) * (CHUNK * 16 // 256) + b"tail"  # 1 MiB + 4 bytes
DIGEST = digest_bytes(DATA)

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from dockyard.store import content, snapshots
    from dockyard.store.content import ContentStore
    from dockyard.store.metadata import ImageRecord, MetadataStore
    from dockyard.store.snapshots import CopySnapshotter, OverlaySnapshotter

    root, mode, stop = sys.argv[1], sys.argv[2], sys.argv[3]
    CHUNK = 65536
    DATA = bytes(range(256)) * (CHUNK * 16 // 256) + b"tail"
    DIGEST = "sha256:" + __import__("hashlib").sha256(DATA).hexdigest()

    def at(point):
        if point == stop:
            print("AT", point, flush=True)
            time.sleep(120)

    content.checkpoint = at
    snapshots.checkpoint = at
    meta = MetadataStore(root)

    if mode == "blob":
        cs = ContentStore(root, meta)
        lease = meta.create_lease("pull", expires=3600)
        w = cs.writer("layer", expected=DIGEST, size=len(DATA), lease=lease)
        for n, off in enumerate(range(0, len(DATA), CHUNK)):
            if n == 5:
                at("chunks")
            w.write(DATA[off : off + CHUNK])
        w.commit()
        print("DONE", flush=True)
    elif mode == "blob-loop":  # killed at a random instant by the test
        cs = ContentStore(root, meta)
        print("AT", "start", flush=True)
        if cs.exists(DIGEST):  # an earlier run got to the end
            time.sleep(120)
        w = cs.writer("layer", expected=DIGEST, size=len(DATA))
        while w.offset < len(DATA):
            w.write(DATA[w.offset : w.offset + 4096])
            time.sleep(0.0005)
        w.commit()
        print("DONE", flush=True)
    elif mode in ("overlay", "copy"):
        cls = OverlaySnapshotter if mode == "overlay" else CopySnapshotter
        snaps = cls(root, meta)
        op = sys.argv[4]
        if op == "prepare":
            snaps.prepare("ctr", "base")
        elif op == "commit":
            snaps.commit("ctr-image", "ctr")
        elif op == "remove":
            snaps.remove("ctr")
        print("DONE", flush=True)
    elif mode == "metadata":  # killed at a random instant by the test
        print("AT", "start", flush=True)
        for i in range(100000):
            cfg = "sha256:%064x" % i
            with meta.transaction():
                meta.put_image(ImageRecord(cfg, "application/json", diff_ids=(cfg,)))
                meta.set_ref(f"x/y:{i}", cfg)
                if i % 3 == 0:
                    meta.delete_ref(f"x/y:{i}")
    """
)


class Child:
    def __init__(self, root: Path, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(SRC))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(root), *args],
            stdout=subprocess.PIPE,
            env=env,
        )

    def wait_for(self, point: str, timeout: float = 20.0) -> None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().decode().strip() if ready else "<timeout>"
        assert line == f"AT {point}", f"child said {line!r}, rc={self.proc.poll()}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def spawn(tmp_path):
    children: list[Child] = []

    def start(*args: str) -> Child:
        child = Child(tmp_path, *args)
        children.append(child)
        return child

    yield start
    for child in children:  # never leave a child behind, even when the test failed
        child.kill()


def reopen(root: Path) -> tuple[MetadataStore, ContentStore]:
    meta = MetadataStore(root)
    assert meta.query("PRAGMA integrity_check")[0][0] == "ok"
    return meta, ContentStore(root, meta)


def assert_no_partial_content(cs: ContentStore) -> None:
    for digest, _ in cs.walk():
        cs.verify(digest)


# --- blobs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["chunks", "commit:synced", "commit:renamed"])
def test_blob_write_killed(spawn, tmp_path, point):
    child = spawn("blob", point)
    child.wait_for(point)
    child.kill()

    meta, cs = reopen(tmp_path)
    try:
        assert_no_partial_content(cs)
        visible = [d for d, _ in cs.walk()]
        if point == "commit:renamed":
            # Renamed means published: whole and verified, only the ingest is left over.
            assert visible == [DIGEST]
            # The killed pull leased the digest before the rename: GC keeps it.
            assert gc.collect(meta, cs, None, lambda d: (), ingest_grace=0).blobs == []
        else:
            assert visible == []
            status = cs.ingest_status("layer")
            assert status is not None and status.expected == DIGEST
            assert status.offset == (5 * CHUNK if point == "chunks" else len(DATA))
            # The retried download continues where the killed one stopped, and completes.
            with meta.lease("retry") as lease, cs.writer("layer", lease=lease) as w:
                assert w.offset == status.offset
                w.write(DATA[w.offset :])
                assert w.commit() == DIGEST
                assert gc.collect(meta, cs, None, lambda d: (), ingest_grace=0).blobs == []
        cs.verify(DIGEST)
        # Once no lease or image holds it, the blob is garbage like any other.
        meta.delete_lease("pull")
        result = gc.collect(meta, cs, None, lambda d: (), ingest_grace=0)
        assert result.blobs == [DIGEST]
        assert cs.ingests() == [] and list(cs.ingest_dir.iterdir()) == []
    finally:
        meta.close()


def test_blob_write_killed_at_random_instants_then_completed(spawn, tmp_path):
    offsets = []
    for delay in (0.02, 0.05, 0.08, 0.11):
        child = spawn("blob-loop", "-")
        child.wait_for("start")
        time.sleep(delay)
        child.kill()
        meta, cs = reopen(tmp_path)
        try:
            assert_no_partial_content(cs)
            status = cs.ingest_status("layer")
            offsets.append(status.offset if status else len(DATA))
        finally:
            meta.close()
    assert offsets == sorted(offsets)  # every run resumed the previous one's bytes
    meta, cs = reopen(tmp_path)
    try:
        if not cs.exists(DIGEST):
            with cs.writer("layer", expected=DIGEST) as w:
                w.write(DATA[w.offset :])
                assert w.commit() == DIGEST
        cs.verify(DIGEST)
    finally:
        meta.close()


# --- snapshots -----------------------------------------------------------------------------------


def make_base(root: Path, cls: type, *, active: bool = False) -> None:
    with MetadataStore(root) as meta:
        snaps = cls(root, meta)
        snaps.prepare("base-x")
        for i in range(200):
            (snaps.fs_path("base-x") / f"file{i}").write_bytes(os.urandom(512))
        snaps.commit("base", "base-x")
        if active:
            snaps.prepare("ctr", "base")
            (snaps.fs_path("ctr") / "written").write_text("by the container")


def dirs(snaps) -> set[str]:
    return {p.name for p in snaps.root.iterdir()}


@pytest.mark.parametrize(
    "mode,point",
    [("overlay", "prepare:renamed"), ("copy", "prepare:renamed"), ("copy", "prepare:populated")],
)
def test_prepare_killed(spawn, tmp_path, mode, point):
    cls = OverlaySnapshotter if mode == "overlay" else CopySnapshotter
    make_base(tmp_path, cls)
    child = spawn(mode, point, "prepare")
    child.wait_for(point)
    child.kill()

    meta, _ = reopen(tmp_path)
    try:
        snaps = cls(tmp_path, meta)  # opening cleans up directories without rows
        snaps.cleanup(min_age=0)  # and temp directories whose creator is gone
        with pytest.raises(NotFound):
            snaps.stat("ctr")
        assert dirs(snaps) == {str(snaps.stat("base").id)}
        snaps.prepare("ctr", "base")
        assert dirs(snaps) == {str(snaps.stat(k).id) for k in ("base", "ctr")}
        if mode == "copy":
            assert len(os.listdir(snaps.fs_path("ctr"))) == 200
    finally:
        meta.close()


@pytest.mark.parametrize("mode", ["overlay", "copy"])
def test_commit_killed(spawn, tmp_path, mode):
    cls = OverlaySnapshotter if mode == "overlay" else CopySnapshotter
    make_base(tmp_path, cls, active=True)
    child = spawn(mode, "commit:measured", "commit")
    child.wait_for("commit:measured")
    child.kill()

    meta, _ = reopen(tmp_path)
    try:
        snaps = cls(tmp_path, meta)
        assert snaps.stat("ctr").kind == "active"
        assert (snaps.fs_path("ctr") / "written").read_text() == "by the container"
        snaps.commit("ctr-image", "ctr")
        assert snaps.stat("ctr-image").kind == "committed"
    finally:
        meta.close()


def test_remove_killed(spawn, tmp_path):
    make_base(tmp_path, OverlaySnapshotter, active=True)
    child = spawn("overlay", "remove:deleted", "remove")
    child.wait_for("remove:deleted")
    child.kill()

    meta, _ = reopen(tmp_path)
    try:
        snaps = OverlaySnapshotter(tmp_path, meta)
        with pytest.raises(NotFound):
            snaps.stat("ctr")
        assert dirs(snaps) == {str(snaps.stat("base").id)}
    finally:
        meta.close()


# --- metadata ------------------------------------------------------------------------------------


def test_metadata_writer_killed_at_random_instants(spawn, tmp_path):
    for delay in (0.05, 0.15, 0.3):
        child = spawn("metadata", "-")
        child.wait_for("start")
        time.sleep(delay)
        child.kill()
        meta, _ = reopen(tmp_path)
        try:
            images = {i.id for i in meta.images()}
            assert images, "the child committed nothing"
            # Transactions are whole: every reference names an image, every image has its
            # layer list, and every third reference of a committed step is gone.
            for ref in meta.refs():
                assert ref.image_id in images
                assert int(ref.name.split(":")[-1]) % 3 != 0
            assert all(meta.get_image(i).diff_ids == (i,) for i in images)
        finally:
            meta.close()
    with MetadataStore(tmp_path) as meta:
        meta.put_image(ImageRecord("sha256:" + "f" * 64, "application/json"))
