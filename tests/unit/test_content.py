"""Content store (blobs, ingests, leases) and garbage collection mark/sweep."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from dockyard.store import gc
from dockyard.store.content import ContentStore, digest_bytes, parse_digest
from dockyard.store.errors import (
    DigestMismatch,
    InUse,
    InvalidDigest,
    NotFound,
    SizeMismatch,
)
from dockyard.store.metadata import ImageRecord, MetadataStore
from dockyard.store.snapshots import OverlaySnapshotter

pytestmark = pytest.mark.unit

DATA = os.urandom(3 * 65536 + 17)
DIGEST = digest_bytes(DATA)


@pytest.fixture
def meta(tmp_path):
    store = MetadataStore(tmp_path)
    yield store
    store.close()


@pytest.fixture
def cs(tmp_path, meta):
    return ContentStore(tmp_path, meta)


def write(cs: ContentStore, data: bytes, ref: str = "r", **kw) -> str:
    with cs.writer(ref, **kw) as w:
        w.write(data)
        return w.commit()


# --- digests -------------------------------------------------------------------------------------


def test_parse_digest_accepts_sha256_and_sha512():
    assert parse_digest("sha256:" + "a" * 64) == ("sha256", "a" * 64)
    assert parse_digest("sha512:" + "0" * 128) == ("sha512", "0" * 128)


@pytest.mark.parametrize(
    "bad",
    ["", "sha256:", "sha256:" + "A" * 64, "sha256:" + "a" * 63, "md5:" + "a" * 32,
     "sha512:" + "a" * 64, "sha256:../" + "a" * 61, "sha256" + "a" * 64],
)  # fmt: skip
def test_invalid_digests_are_refused(cs, bad):
    with pytest.raises(InvalidDigest):
        cs.path(bad)


# --- writing and reading -------------------------------------------------------------------------


def test_commit_publishes_a_verified_blob(cs, tmp_path):
    digest = write(cs, DATA, expected=DIGEST, size=len(DATA))
    assert digest == DIGEST
    path = tmp_path / "content" / "blobs" / "sha256" / DIGEST.split(":")[1]
    assert path.read_bytes() == DATA
    assert path.stat().st_mode & 0o777 == 0o444  # published blobs are never written again
    assert cs.exists(DIGEST)
    assert cs.info(DIGEST).size == len(DATA)
    size, mtime = cs.info(DIGEST)
    assert size == len(DATA) and mtime > 0
    assert cs.read(DIGEST) == DATA
    assert list(os.scandir(cs.ingest_dir)) == []


def test_commit_without_expected_digest_names_the_blob_by_its_hash(cs):
    assert write(cs, b"abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()


def test_sha512_blobs(cs, tmp_path):
    expected = digest_bytes(DATA, "sha512")
    assert write(cs, DATA, expected=expected) == expected
    assert (tmp_path / "content/blobs/sha512" / expected[7:]).is_file()
    cs.verify(expected)


def test_digest_so_far_tracks_the_bytes(cs):
    with cs.writer("r") as w:
        w.write(b"ab")
        assert w.digest_so_far == digest_bytes(b"ab")
        w.write(b"c")
        assert w.digest_so_far == digest_bytes(b"abc")
        assert w.offset == 3


def test_digest_mismatch_names_both_digests_and_keeps_nothing(cs):
    wrong = digest_bytes(b"something else")
    with cs.writer("r", expected=wrong) as w:
        w.write(DATA)
        with pytest.raises(DigestMismatch) as err:
            w.commit()
    assert err.value.expected == wrong and err.value.actual == DIGEST
    assert wrong in str(err.value) and DIGEST in str(err.value)
    assert not cs.exists(DIGEST) and not cs.exists(wrong)
    assert cs.ingests() == []


def test_short_commit_keeps_the_ingest_for_more_data(cs):
    with cs.writer("r", expected=DIGEST, size=len(DATA)) as w:
        w.write(DATA[:100])
        with pytest.raises(SizeMismatch):
            w.commit()
        w.write(DATA[100:])
        assert w.commit() == DIGEST


def test_write_past_the_declared_size_is_refused(cs):
    with cs.writer("r", size=4) as w, pytest.raises(SizeMismatch):
        w.write(b"12345")


def test_commit_with_a_smaller_size_discards(cs):
    with cs.writer("r") as w:
        w.write(b"12345")
        with pytest.raises(SizeMismatch):
            w.commit(size=3)
    assert cs.ingests() == []


def test_verify_on_read_detects_corruption(cs):
    write(cs, DATA)
    path = cs.path(DIGEST)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"X")
    with cs.open(DIGEST) as f:  # an unverified read just returns the bytes
        assert len(f.read()) == len(DATA)
    with cs.open(DIGEST, verify=True) as f, pytest.raises(DigestMismatch) as err:
        while f.read(4096):
            pass
    assert err.value.expected == DIGEST
    with pytest.raises(DigestMismatch):
        cs.verify(DIGEST)


def test_missing_blobs_are_not_found(cs):
    missing = digest_bytes(b"nope")
    for call in (cs.info, cs.open, cs.delete):
        with pytest.raises(NotFound):
            call(missing)
    assert not cs.exists(missing)


def test_walk_and_delete(cs):
    a, b = write(cs, b"a", "ra"), write(cs, b"b", "rb")
    (cs.blobs_dir / "sha256" / "junk.tmp").write_text("not a blob")
    assert {d for d, _ in cs.walk()} == {a, b}
    assert dict(cs.walk())[a].size == 1
    assert cs.delete(a) == 1
    assert {d for d, _ in cs.walk()} == {b}


def test_write_blob(cs):
    digest = cs.write_blob(b'{"config": 1}')
    assert cs.read(digest) == b'{"config": 1}'
    assert cs.write_blob(b'{"config": 1}', expected=digest) == digest
    with pytest.raises(DigestMismatch):
        cs.write_blob(b"other", expected=digest)


# --- resumable ingest ----------------------------------------------------------------------------


def test_interrupted_ingest_resumes_at_its_offset(cs):
    w = cs.writer("layer-1", expected=DIGEST, size=len(DATA))
    w.write(DATA[:70000])
    w.close()
    (status,) = cs.ingests()
    assert (status.ref, status.offset, status.total, status.expected) == (
        "layer-1", 70000, len(DATA), DIGEST,
    )  # fmt: skip
    with cs.writer("layer-1") as w:  # expected and size come back from the ingest
        assert w.offset == 70000
        assert w.expected == DIGEST and w.total == len(DATA)
        assert w.digest_so_far == digest_bytes(DATA[:70000])
        w.write(DATA[w.offset :])
        assert w.commit() == DIGEST
    assert cs.ingest_status("layer-1") is None


def test_resume_for_another_digest_starts_over(cs):
    with cs.writer("r", expected=digest_bytes(b"old")) as w:
        w.write(b"ol")
    with cs.writer("r", expected=DIGEST) as w:
        assert w.offset == 0
        w.write(DATA)
        assert w.commit() == DIGEST


def test_reset_restarts_an_ingest(cs):
    with cs.writer("r", expected=DIGEST) as w:
        w.write(b"garbage")
        w.reset()
        assert w.offset == 0
        w.write(DATA)
        assert w.commit() == DIGEST


def test_second_writer_of_a_ref_is_refused_until_the_first_closes(cs):
    first = cs.writer("r")
    with pytest.raises(InUse):
        cs.writer("r")
    first.write(b"x")
    first.close()
    with cs.writer("r") as again:
        assert again.offset == 1


def test_abort_discards(cs):
    w = cs.writer("r")
    w.write(b"x")
    w.abort()
    assert cs.ingests() == []
    cs.writer("r2").close()
    cs.abort("r2")
    with pytest.raises(NotFound):
        cs.abort("r2")


def test_same_digest_from_two_refs_gives_one_blob(cs):
    w1, w2 = cs.writer("a", expected=DIGEST), cs.writer("b", expected=DIGEST)
    w1.write(DATA)
    w2.write(DATA)
    assert w1.commit() == DIGEST
    assert w2.commit() == DIGEST  # sees the blob there and drops its own copy
    assert [d for d, _ in cs.walk()] == [DIGEST]
    assert cs.ingests() == []


def test_concurrent_writers_in_threads(cs):
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(5):
                with cs.writer(f"t{n}-{i}", expected=DIGEST) as w:
                    for off in range(0, len(DATA), 8192):
                        w.write(DATA[off : off + 8192])
                    assert w.commit() == DIGEST
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cs.read(DIGEST) == DATA
    assert cs.ingests() == []


# --- leases and stale ingests --------------------------------------------------------------------


def test_a_leased_writer_records_its_ingest_and_blob(cs, meta):
    with cs.lease("pull-1", expires=60) as lease:
        write(cs, DATA, "ref-1", lease=lease)
        assert meta.lease_resources(lease.id) == [("content", DIGEST), ("ingest", "ref-1")]
    assert meta.leases() == []


def test_stale_ingests_are_removed_unless_leased_or_open(cs):
    for ref in ("old", "kept", "open"):
        w = cs.writer(ref)
        w.write(b"x" * 10)
        w.close()
    holder = cs.writer("open")
    try:
        removed = cs.remove_stale_ingests(0, keep={"kept"}, now=1e12)
    finally:
        holder.close()
    assert removed == [("old", 10)]
    assert {s.ref for s in cs.ingests()} == {"kept", "open"}
    assert cs.remove_stale_ingests(3600, keep=set()) == []  # all fresh


# --- garbage collection: mark --------------------------------------------------------------------


def test_mark_follows_content_references_and_snapshot_parents():
    graph = {"index": ["m1", "m2"], "m1": ["cfg", "l1", "l2"], "m2": ["l2"], "lone": ["x"]}
    parents = {"c3": "c2", "c2": "c1", "c1": None, "other": None}
    roots = gc.Roots(content={"index"}, snapshots={"c3"})
    marked = gc.mark(roots, lambda d: graph.get(d, []), parents.get)
    assert marked.content == {"index", "m1", "m2", "cfg", "l1", "l2"}
    assert marked.snapshots == {"c3", "c2", "c1"}


def test_mark_survives_cycles():
    graph = {"a": ["b"], "b": ["a"]}
    marked = gc.mark(gc.Roots(content={"a"}), lambda d: graph[d], lambda k: None)
    assert marked.content == {"a", "b"}


# --- garbage collection: sweep with real stores --------------------------------------------------


def _manifest_refs(cs: ContentStore):
    """A toy resolver: a 'manifest' blob lists the digests it references, one per line."""

    def references(digest: str) -> list[str]:
        text = cs.read(digest)
        if text.startswith(b"manifest\n"):
            return text.decode().split("\n")[1:]
        return []

    return references


def test_collect_keeps_what_images_and_leases_reach(tmp_path, cs, meta):
    snaps = OverlaySnapshotter(tmp_path, meta)
    layer = cs.write_blob(b"layer bytes")
    config = cs.write_blob(b"config json")
    manifest = cs.write_blob(f"manifest\n{config}\n{layer}".encode())
    garbage = cs.write_blob(b"unreferenced" * 100)
    diff_id = digest_bytes(b"diff")
    snaps.prepare("tmp-1")
    snaps.commit(diff_id, "tmp-1")
    snaps.prepare("dangling-active")
    meta.put_image(
        ImageRecord(config, "application/vnd.oci.image.manifest.v1+json", manifest,
                    diff_ids=(diff_id,))
    )  # fmt: skip
    meta.set_ref("docker.io/library/x:latest", config)
    with meta.lease("build", expires=60) as lease:
        leased = cs.write_blob(b"in progress", lease=lease)
        snaps.prepare("build-step", diff_id, lease=lease)
        w = cs.writer("partial")
        w.write(b"half")
        w.close()

        dry = gc.collect(meta, cs, snaps, _manifest_refs(cs), dry_run=True)
        assert dry.blobs == [garbage] and dry.snapshots == ["dangling-active"]
        assert cs.exists(garbage)

        result = gc.collect(meta, cs, snaps, _manifest_refs(cs), ingest_grace=0)
        assert result.blobs == [garbage]
        assert result.snapshots == ["dangling-active"]
        assert result.ingests == ["partial"]
        assert result.bytes_reclaimed >= len(b"unreferenced" * 100) + 4
        assert {d for d, _ in cs.walk()} == {layer, config, manifest, leased}
        assert {s.key for s in snaps.walk()} == {diff_id, "build-step"}

    # The lease is gone: what only it protected goes; the image's content stays.
    result = gc.collect(meta, cs, snaps, _manifest_refs(cs))
    assert result.blobs == [leased]
    assert result.snapshots == ["build-step"]
    meta.delete_image(config)
    result = gc.collect(meta, cs, snaps, _manifest_refs(cs))
    assert sorted(result.blobs) == sorted([layer, config, manifest])
    assert result.snapshots == [diff_id]
    assert list(cs.walk()) == [] and list(snaps.walk()) == []
    assert [p.name for p in snaps.root.iterdir()] == []


def test_collect_removes_children_before_parents_and_expired_leases(tmp_path, cs, meta):
    snaps = OverlaySnapshotter(tmp_path, meta)
    parent = None
    for i in range(4):
        snaps.prepare(f"a{i}", parent)
        snaps.commit(f"c{i}", f"a{i}")
        parent = f"c{i}"
    meta.create_lease("stale", expires=-1).add_snapshot("c3")
    result = gc.collect(meta, cs, snaps, lambda d: ())
    assert result.leases == ["stale"]
    assert result.snapshots == ["c3", "c2", "c1", "c0"]


def test_collect_keeps_snapshots_of_containers(tmp_path, cs, meta):
    snaps = OverlaySnapshotter(tmp_path, meta)
    snaps.prepare("base-a")
    snaps.commit("base", "base-a")
    snaps.prepare("ctr-rw", "base")
    with meta.transaction() as conn:
        conn.execute(
            "INSERT INTO containers (id, name, snapshot_key, created) VALUES ('c1', 'web', ?, 0)",
            ("ctr-rw",),
        )
    result = gc.collect(meta, cs, snaps, lambda d: ())
    assert result.snapshots == []
    assert Path(snaps.fs_path("base")).is_dir()
