"""metadata.db: schema migrations, transactions, threads, and the typed CRUD API."""

from __future__ import annotations

import hashlib
import sqlite3
import threading

import pytest

from dockyard.store import migrations
from dockyard.store.errors import AlreadyExists, InvalidState, NotFound, SchemaTooNew
from dockyard.store.metadata import ImageRecord, LayerRecord, MetadataStore, chain_ids

pytestmark = pytest.mark.unit

CFG = "sha256:" + "c" * 64
MANIFEST = "sha256:" + "1" * 64
D1, D2, D3 = ("sha256:" + ch * 64 for ch in "abd")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def meta(tmp_path, clock):
    store = MetadataStore(tmp_path, clock=clock)
    yield store
    store.close()


def tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    conn.close()
    return {r[0] for r in rows}


# --- schema and migrations -----------------------------------------------------------------------


def test_a_new_database_is_at_the_latest_version_in_wal_mode(meta):
    assert meta.version == migrations.LATEST == meta.latest_version
    assert meta.query("PRAGMA journal_mode")[0][0] == "wal"
    assert meta.query("PRAGMA foreign_keys")[0][0] == 1
    assert meta.query("PRAGMA busy_timeout")[0][0] == 30000
    expected = {
        "images", "refs", "layers", "image_layers", "layer_blobs", "snapshots", "leases",
        "lease_resources", "containers", "volumes", "networks", "build_cache",
    }  # fmt: skip
    assert expected <= tables(meta.path)


def test_an_older_database_is_migrated_and_keeps_its_data(tmp_path):
    path = tmp_path / "metadata.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrations.migrate(conn, str(path), target=1) == 1
    conn.execute(
        "INSERT INTO images (id, media_type, added) VALUES (?, ?, 1.0)", (CFG, OCI_MANIFEST)
    )
    conn.execute(
        "INSERT INTO refs (name, image_id, kind, updated) VALUES ('docker.io/x:1', ?, 'tag', 1)",
        (CFG,),
    )
    conn.close()
    assert "containers" not in tables(path)

    with MetadataStore(tmp_path) as meta:
        assert meta.version == migrations.LATEST
        assert meta.get_ref("docker.io/x:1") == CFG
        assert meta.get_image(CFG).media_type == OCI_MANIFEST
        assert "containers" in tables(path)


def test_migrations_are_idempotent(tmp_path):
    MetadataStore(tmp_path).close()
    with MetadataStore(tmp_path) as meta:
        assert meta.version == migrations.LATEST
    # Re-running every step's statements on a migrated database changes nothing.
    conn = sqlite3.connect(tmp_path / "metadata.db", isolation_level=None)
    for step in migrations.MIGRATIONS:
        for statement in step.statements:
            conn.execute(statement)
    conn.close()


def test_migration_steps_are_numbered_in_order():
    versions = [m.version for m in migrations.MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))


def test_a_newer_database_refuses_to_open(tmp_path):
    MetadataStore(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "metadata.db")
    conn.execute(f"PRAGMA user_version = {migrations.LATEST + 7}")
    conn.close()
    with pytest.raises(SchemaTooNew) as err:
        MetadataStore(tmp_path)
    assert err.value.found == migrations.LATEST + 7
    assert "newer than this dockyard knows" in str(err.value)


def test_two_stores_opening_an_old_database_at_once(tmp_path):
    path = tmp_path / "metadata.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrations.migrate(conn, str(path), target=1)
    conn.close()
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            MetadataStore(tmp_path).close()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with MetadataStore(tmp_path) as meta:
        assert meta.version == migrations.LATEST


# --- transactions and threads --------------------------------------------------------------------


def test_a_failed_transaction_rolls_back(meta):
    with pytest.raises(RuntimeError), meta.transaction():
        meta.put_image(ImageRecord(CFG, OCI_MANIFEST))
        meta.set_ref("x:1", CFG)
        raise RuntimeError("boom")
    assert meta.images() == [] and meta.refs() == []


def test_nested_transactions_join_the_outer_one(meta):
    with meta.transaction():
        meta.put_image(ImageRecord(CFG, OCI_MANIFEST))  # itself a transaction
        with meta.transaction():
            meta.set_ref("x:1", CFG)
    assert meta.get_ref("x:1") == CFG


def test_threads_write_concurrently(meta):
    meta.put_image(ImageRecord(CFG, OCI_MANIFEST))
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(40):
                meta.set_ref(f"repo{n}:{i}", CFG)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(meta.refs(CFG)) == 8 * 40


def test_closed_store_refuses(tmp_path):
    meta = MetadataStore(tmp_path)
    meta.close()
    with pytest.raises(RuntimeError, match="closed"):
        meta.images()


# --- images, references, layers ------------------------------------------------------------------


def test_chain_ids_follow_the_oci_formula():
    assert chain_ids([]) == []
    assert chain_ids([D1]) == [D1]
    c2 = "sha256:" + hashlib.sha256(f"{D1} {D2}".encode()).hexdigest()
    c3 = "sha256:" + hashlib.sha256(f"{c2} {D3}".encode()).hexdigest()
    assert chain_ids([D1, D2, D3]) == [D1, c2, c3]


def test_image_round_trip(meta, clock):
    image = ImageRecord(
        CFG, OCI_MANIFEST, MANIFEST, "2024-01-01T00:00:00Z", 1234, {"a": "b"}, (D1, D2)
    )
    stored = meta.put_image(image)
    assert stored.added == clock.now
    assert stored == ImageRecord(
        CFG, OCI_MANIFEST, MANIFEST, "2024-01-01T00:00:00Z", 1234, {"a": "b"}, (D1, D2), 1000.0
    )
    assert stored.chain_ids == chain_ids([D1, D2])
    # Replacing keeps the added time and replaces the layer list.
    clock.now = 2000.0
    again = meta.put_image(ImageRecord(CFG, OCI_MANIFEST, diff_ids=(D3,)))
    assert again.added == 1000.0 and again.diff_ids == (D3,)
    assert meta.images() == [again]
    with pytest.raises(NotFound):
        meta.get_image("sha256:" + "0" * 64)


def test_references_are_tags_or_digests_and_follow_their_image(meta):
    other = "sha256:" + "e" * 64
    meta.put_image(ImageRecord(CFG, OCI_MANIFEST))
    meta.put_image(ImageRecord(other, OCI_MANIFEST))
    assert meta.set_ref("docker.io/library/busybox:latest", CFG) is None
    meta.set_ref(f"docker.io/library/busybox@{MANIFEST}", CFG)
    assert {(r.name, r.kind) for r in meta.refs(CFG)} == {
        ("docker.io/library/busybox:latest", "tag"),
        (f"docker.io/library/busybox@{MANIFEST}", "digest"),
    }
    # Retagging reports the image that lost the name (it may now be dangling).
    assert meta.set_ref("docker.io/library/busybox:latest", other) == CFG
    assert meta.get_ref("docker.io/library/busybox:latest") == other
    assert meta.delete_ref("docker.io/library/busybox:latest") == other
    with pytest.raises(NotFound):
        meta.get_ref("docker.io/library/busybox:latest")
    meta.delete_image(CFG)  # cascades to its references
    assert meta.refs() == []
    with pytest.raises(NotFound):
        meta.delete_image(CFG)


def test_a_reference_must_name_an_existing_image(meta):
    with pytest.raises(sqlite3.IntegrityError):
        meta.set_ref("x:1", CFG)


def test_layers_and_layer_blobs(meta):
    c1, c2 = chain_ids([D1, D2])
    meta.put_layer(LayerRecord(c1, D1, c1, None, 10))
    meta.put_layer(LayerRecord(c2, D2, c2, c1, 20))
    assert meta.get_layer(c2) == LayerRecord(c2, D2, c2, c1, 20)
    assert len(meta.layers()) == 2
    meta.delete_layer(c2)
    assert meta.get_layer(c2) is None
    gz = "sha256:" + "9" * 64
    meta.put_layer_blob(gz, D1, "application/vnd.oci.image.layer.v1.tar+gzip")
    assert meta.layer_blob_diff_id(gz) == D1
    assert meta.blobs_for_diff_id(D1) == [(gz, "application/vnd.oci.image.layer.v1.tar+gzip")]
    assert meta.layer_blob_diff_id(D3) is None


def test_image_layer_snapshot_keys_prefer_the_layer_row(meta):
    c1, c2 = chain_ids([D1, D2])
    meta.put_image(ImageRecord(CFG, OCI_MANIFEST, diff_ids=(D1, D2)))
    meta.put_layer(LayerRecord(c2, D2, "custom-key", c1))
    assert meta.image_layer_snapshot_keys() == {c1, "custom-key"}
    assert meta.image_layer_snapshot_keys([CFG]) == {c1, "custom-key"}
    assert meta.image_layer_snapshot_keys([]) == set()


# --- snapshots -----------------------------------------------------------------------------------


def test_snapshot_rows(meta):
    a = meta.add_snapshot("a", None, "active", {"x": "1"})
    assert (a.key, a.kind, a.parent, a.labels) == ("a", "active", None, {"x": "1"})
    with pytest.raises(AlreadyExists):
        meta.add_snapshot("a", None, "active")
    committed = meta.commit_snapshot("a", "c1", 4096, 2, {"y": "2"})
    assert (committed.id, committed.kind, committed.size) == (a.id, "committed", 4096)
    assert committed.labels == {"x": "1", "y": "2"}
    with pytest.raises(InvalidState):
        meta.commit_snapshot("c1", "c1b", 0, 0)
    b = meta.add_snapshot("b", "c1", "active")
    assert b.id > a.id
    assert [s.key for s in meta.snapshot_chain("b")] == ["b", "c1"]
    assert meta.snapshot_children("c1") == ["b"]
    with pytest.raises(sqlite3.IntegrityError):  # parent must exist
        meta.add_snapshot("orphan", "nope", "active")
    with pytest.raises(ValueError):
        meta.add_snapshot("bad", None, "weird")
    meta.delete_snapshot("b")
    with pytest.raises(NotFound):
        meta.delete_snapshot("b")
    # Ids are never reused, even after a delete (the old directory may still be going).
    assert meta.add_snapshot("b2", None, "view").id > b.id


# --- leases --------------------------------------------------------------------------------------


def test_leases_protect_until_they_end_or_expire(meta, clock):
    with meta.lease("pull-1", expires=60, labels={"image": "busybox"}) as lease:
        lease.add_content(D1)
        lease.add_snapshot("s1")
        lease.add_ingest("ref-1")
        lease.add_content(D1)  # twice is once
        assert meta.lease_resources("pull-1") == [
            ("content", D1), ("ingest", "ref-1"), ("snapshot", "s1"),
        ]  # fmt: skip
        assert meta.leased() == {"content": {D1}, "snapshot": {"s1"}, "ingest": {"ref-1"}}
        assert meta.leased(now=clock.now + 61) == {"content": set(), "snapshot": set(),
                                                   "ingest": set()}  # fmt: skip
        with pytest.raises(AlreadyExists):
            meta.create_lease("pull-1")
    assert meta.leases() == [] and meta.lease_resources("pull-1") == []


def test_expired_leases_are_deleted(meta, clock):
    meta.create_lease("short", expires=10)
    meta.create_lease("forever", expires=None)
    assert meta.create_lease().id.startswith("lease-")
    clock.now += 11
    assert meta.delete_expired_leases() == ["short"]
    assert "forever" in {lease.id for lease in meta.leases()}


def test_a_lease_is_deleted_even_when_the_work_fails(meta):
    with pytest.raises(RuntimeError), meta.lease("build"):
        raise RuntimeError("failed")
    assert meta.leases() == []


def test_resources_need_a_lease(meta):
    with pytest.raises(NotFound):
        meta.add_lease_resource("nope", "content", D1)
    with pytest.raises(ValueError):
        meta.add_lease_resource("nope", "volume", "x")


def test_a_commit_moves_the_lease_to_the_committed_key(meta):
    lease = meta.create_lease("unpack")
    meta.add_snapshot("extract-1", None, "active", lease=lease)
    meta.commit_snapshot("extract-1", D1, 0, 0)
    assert meta.lease_resources("unpack") == [("snapshot", D1)]


# --- what the engine references ------------------------------------------------------------------


def test_engine_references(meta):
    with meta.transaction() as conn:
        conn.execute(
            "INSERT INTO containers (id, name, image_id, snapshot_key, created, config)"
            " VALUES ('c1', 'web', ?, 'rw-1', 0, '{\"Env\": []}')",
            (CFG,),
        )
        conn.execute(
            "INSERT INTO build_cache (key, snapshot_key, created, last_used)"
            " VALUES ('k', 'cache-1', 0, 0)"
        )
        conn.execute("INSERT INTO volumes (name, mountpoint, created) VALUES ('v', '/x', 0)")
        conn.execute("INSERT INTO networks (id, name, created) VALUES ('n1', 'bridge', 0)")
    assert meta.engine_references() == ({CFG}, {"rw-1", "cache-1"})
    with pytest.raises(sqlite3.IntegrityError), meta.transaction() as conn:  # names are unique
        conn.execute("INSERT INTO networks (id, name, created) VALUES ('n2', 'bridge', 0)")
