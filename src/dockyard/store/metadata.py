"""metadata.db: the SQLite database that names everything in the store.

Blobs and snapshot directories are anonymous until a row here points at them: an image is
a config digest with references (tags, repo digests) naming it, a layer is a chain ID
naming a committed snapshot, a lease protects what an unfinished pull or build has made.
Garbage collection (gc.py) keeps what rows reach and removes the rest.

Access pattern: one connection per thread (``sqlite3`` objects are not shared), WAL so that
readers never block the single writer, and every write inside ``transaction()``, which
starts with BEGIN IMMEDIATE: the write lock is taken up front, so two writers queue on
``busy_timeout`` instead of failing with SQLITE_BUSY when a read turns into a write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AlreadyExists, InvalidState, NotFound
from .migrations import LATEST, migrate, schema_version

SNAPSHOT_KINDS = ("active", "committed", "view")
LEASE_KINDS = ("content", "snapshot", "ingest")


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """OCI ChainIDs, bottom to top.

    ChainID(L0) = DiffID(L0); ChainID(L0..Ln) = sha256("<ChainID(L0..Ln-1)> <DiffID(Ln)>").
    """
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            text = f"{out[-1]} {diff_id}".encode()
            out.append("sha256:" + hashlib.sha256(text).hexdigest())
    return out


@dataclass(frozen=True)
class ImageRecord:
    id: str  # config digest: Docker's image ID
    media_type: str  # media type of the target (manifest or index)
    manifest_digest: str | None = None  # digest of that target, when there is one
    created: str | None = None  # the config's "created" (RFC 3339)
    size: int = 0  # unpacked size of all layers
    labels: Mapping[str, str] = field(default_factory=dict)
    diff_ids: tuple[str, ...] = ()  # rootfs.diff_ids, bottom to top
    added: float = 0.0  # when it was stored here (set by put_image)

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)


@dataclass(frozen=True)
class Reference:
    name: str  # normalised: docker.io/library/busybox:latest or ...@sha256:...
    image_id: str
    kind: str  # "tag" or "digest"


@dataclass(frozen=True)
class LayerRecord:
    chain_id: str
    diff_id: str
    snapshot_key: str
    parent: str | None = None  # chain ID of the layer below
    size: int = 0


@dataclass(frozen=True)
class SnapshotRecord:
    id: int  # names the directory snapshots/<id>/
    key: str
    parent: str | None
    kind: str  # active, committed or view
    created: float
    updated: float
    size: int | None = None  # usage, recorded at commit
    inodes: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LeaseRecord:
    id: str
    created: float
    expires: float | None
    labels: Mapping[str, str] = field(default_factory=dict)


class Lease:
    """A handle on a lease row: what is added to it survives GC until the lease goes."""

    def __init__(self, store: MetadataStore, lease_id: str) -> None:
        self.store = store
        self.id = lease_id

    def add_content(self, digest: str) -> None:
        self.store.add_lease_resource(self.id, "content", digest)

    def add_snapshot(self, key: str) -> None:
        self.store.add_lease_resource(self.id, "snapshot", key)

    def add_ingest(self, ref: str) -> None:
        self.store.add_lease_resource(self.id, "ingest", ref)

    def __repr__(self) -> str:
        return f"Lease({self.id!r})"


def _labels(text: str) -> dict[str, str]:
    return json.loads(text) if text else {}


def _dump(mapping: Mapping[str, object] | None) -> str:
    return json.dumps(dict(mapping or {}), sort_keys=True)


class MetadataStore:
    """Typed access to ``<root>/metadata.db``. Safe to share between threads."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        busy_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "metadata.db"
        self.busy_timeout = busy_timeout
        self.clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._closed = False
        try:
            conn = self._conn()
            # WAL is a property of the file: set once, every later connection uses it.
            conn.execute("PRAGMA journal_mode=WAL")
            migrate(conn, str(self.path))
        except BaseException:
            self.close()
            raise

    # --- connections and transactions ----------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise RuntimeError(f"{self.path}: metadata store is closed")
        # isolation_level=None: no implicit transactions; transaction() issues BEGIN itself.
        # check_same_thread=False only so that close() may close every thread's connection.
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        # FULL, not NORMAL: snapshot removal deletes a directory after its row is committed,
        # and the row must not come back after a power loss when the directory is gone.
        conn.execute("PRAGMA synchronous = FULL")
        self._local.conn = conn
        self._local.depth = 0
        with self._lock:
            self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); nested uses join the outermost one."""
        conn = self._conn()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.depth = 0

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, params).fetchall()

    @property
    def version(self) -> int:
        return schema_version(self._conn())

    latest_version = LATEST

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- images and references -------------------------------------------------------------

    def put_image(self, image: ImageRecord) -> ImageRecord:
        """Insert or replace an image and its layer list; references are kept."""
        added = image.added or self.clock()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO images (id, manifest_digest, media_type, created, size, labels, added)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " manifest_digest=excluded.manifest_digest, media_type=excluded.media_type,"
                " created=excluded.created, size=excluded.size, labels=excluded.labels",
                (
                    image.id,
                    image.manifest_digest,
                    image.media_type,
                    image.created,
                    image.size,
                    _dump(image.labels),
                    added,
                ),
            )
            conn.execute("DELETE FROM image_layers WHERE image_id = ?", (image.id,))
            conn.executemany(
                "INSERT INTO image_layers (image_id, position, diff_id, chain_id)"
                " VALUES (?, ?, ?, ?)",
                [
                    (image.id, i, d, c)
                    for i, (d, c) in enumerate(zip(image.diff_ids, image.chain_ids, strict=True))
                ],
            )
        return self.get_image(image.id)

    def get_image(self, image_id: str) -> ImageRecord:
        rows = self.query("SELECT * FROM images WHERE id = ?", (image_id,))
        if not rows:
            raise NotFound("image", image_id)
        return self._image(rows[0])

    def images(self) -> list[ImageRecord]:
        return [self._image(r) for r in self.query("SELECT * FROM images ORDER BY added")]

    def _image(self, row: sqlite3.Row) -> ImageRecord:
        diff_ids = self.query(
            "SELECT diff_id FROM image_layers WHERE image_id = ? ORDER BY position", (row["id"],)
        )
        return ImageRecord(
            id=row["id"],
            media_type=row["media_type"],
            manifest_digest=row["manifest_digest"],
            created=row["created"],
            size=row["size"],
            labels=_labels(row["labels"]),
            diff_ids=tuple(r["diff_id"] for r in diff_ids),
            added=row["added"],
        )

    def delete_image(self, image_id: str) -> None:
        """Delete an image and (by cascade) its references and layer list."""
        with self.transaction() as conn:
            if not conn.execute("DELETE FROM images WHERE id = ?", (image_id,)).rowcount:
                raise NotFound("image", image_id)

    def set_ref(self, name: str, image_id: str) -> str | None:
        """Point ``name`` at ``image_id``; return the image it named before, if another."""
        kind = "digest" if "@" in name else "tag"
        with self.transaction() as conn:
            row = conn.execute("SELECT image_id FROM refs WHERE name = ?", (name,)).fetchone()
            conn.execute(
                "INSERT INTO refs (name, image_id, kind, updated) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET image_id=excluded.image_id,"
                " updated=excluded.updated",
                (name, image_id, kind, self.clock()),
            )
        previous = row[0] if row else None
        return previous if previous != image_id else None

    def get_ref(self, name: str) -> str:
        rows = self.query("SELECT image_id FROM refs WHERE name = ?", (name,))
        if not rows:
            raise NotFound("reference", name)
        return str(rows[0]["image_id"])

    def delete_ref(self, name: str) -> str:
        """Remove a reference; return the image ID it named."""
        with self.transaction():
            image_id = self.get_ref(name)
            self._conn().execute("DELETE FROM refs WHERE name = ?", (name,))
        return image_id

    def refs(self, image_id: str | None = None) -> list[Reference]:
        if image_id is None:
            rows = self.query("SELECT name, image_id, kind FROM refs ORDER BY name")
        else:
            rows = self.query(
                "SELECT name, image_id, kind FROM refs WHERE image_id = ? ORDER BY name",
                (image_id,),
            )
        return [Reference(r["name"], r["image_id"], r["kind"]) for r in rows]

    # --- layers ----------------------------------------------------------------------------

    def put_layer(self, layer: LayerRecord) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO layers (chain_id, diff_id, parent, snapshot_key, size)"
                " VALUES (?, ?, ?, ?, ?)",
                (layer.chain_id, layer.diff_id, layer.parent, layer.snapshot_key, layer.size),
            )

    def get_layer(self, chain_id: str) -> LayerRecord | None:
        rows = self.query("SELECT * FROM layers WHERE chain_id = ?", (chain_id,))
        return self._layer(rows[0]) if rows else None

    def layers(self) -> list[LayerRecord]:
        return [self._layer(r) for r in self.query("SELECT * FROM layers")]

    @staticmethod
    def _layer(row: sqlite3.Row) -> LayerRecord:
        return LayerRecord(
            row["chain_id"], row["diff_id"], row["snapshot_key"], row["parent"], row["size"]
        )

    def delete_layer(self, chain_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM layers WHERE chain_id = ?", (chain_id,))

    def put_layer_blob(self, digest: str, diff_id: str, media_type: str) -> None:
        """Remember that compressed blob ``digest`` unpacks to ``diff_id``."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO layer_blobs (digest, diff_id, media_type) VALUES (?, ?, ?)",
                (digest, diff_id, media_type),
            )

    def layer_blob_diff_id(self, digest: str) -> str | None:
        rows = self.query("SELECT diff_id FROM layer_blobs WHERE digest = ?", (digest,))
        return str(rows[0]["diff_id"]) if rows else None

    def blobs_for_diff_id(self, diff_id: str) -> list[tuple[str, str]]:
        """(digest, media type) of every compressed blob known to unpack to ``diff_id``."""
        rows = self.query(
            "SELECT digest, media_type FROM layer_blobs WHERE diff_id = ? ORDER BY digest",
            (diff_id,),
        )
        return [(r["digest"], r["media_type"]) for r in rows]

    # --- snapshots (written by snapshots.py) -------------------------------------------------

    def add_snapshot(
        self,
        key: str,
        parent: str | None,
        kind: str,
        labels: Mapping[str, str] | None = None,
        lease: Lease | None = None,
    ) -> SnapshotRecord:
        """Insert a snapshot row; the new row's id names its directory.

        Raises AlreadyExists for a taken key. Call inside ``transaction()`` when the
        directory is created in the same step, so that both happen or neither does.
        """
        if kind not in SNAPSHOT_KINDS:
            raise ValueError(f"snapshot kind {kind!r} not one of {SNAPSHOT_KINDS}")
        now = self.clock()
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone():
                raise AlreadyExists("snapshot", key)
            cur = conn.execute(
                "INSERT INTO snapshots (key, parent, kind, created, updated, labels)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key, parent, kind, now, now, _dump(labels)),
            )
            if lease is not None:
                lease.add_snapshot(key)
            assert cur.lastrowid is not None
            return SnapshotRecord(
                cur.lastrowid, key, parent, kind, now, now, None, None, dict(labels or {})
            )

    def get_snapshot(self, key: str) -> SnapshotRecord | None:
        rows = self.query("SELECT * FROM snapshots WHERE key = ?", (key,))
        return self._snapshot(rows[0]) if rows else None

    def snapshot_chain(self, key: str) -> list[SnapshotRecord]:
        """The snapshot ``key`` followed by its ancestors, nearest first."""
        rows = self.query(
            "WITH RECURSIVE chain(k, depth) AS (SELECT ?, 0 UNION ALL"
            " SELECT s.parent, chain.depth + 1 FROM snapshots s JOIN chain ON s.key = chain.k"
            " WHERE s.parent IS NOT NULL)"
            " SELECT s.* FROM chain JOIN snapshots s ON s.key = chain.k ORDER BY chain.depth",
            (key,),
        )
        return [self._snapshot(r) for r in rows]

    def snapshot_children(self, key: str) -> list[str]:
        rows = self.query("SELECT key FROM snapshots WHERE parent = ? ORDER BY key", (key,))
        return [r["key"] for r in rows]

    def snapshots(self) -> list[SnapshotRecord]:
        return [self._snapshot(r) for r in self.query("SELECT * FROM snapshots ORDER BY id")]

    def commit_snapshot(
        self,
        key: str,
        name: str,
        size: int,
        inodes: int,
        labels: Mapping[str, str] | None = None,
    ) -> SnapshotRecord:
        """Turn active snapshot ``key`` into committed snapshot ``name`` (same directory)."""
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM snapshots WHERE key = ?", (name,)).fetchone():
                raise AlreadyExists("snapshot", name)
            row = self.get_snapshot(key)
            if row is None:
                raise NotFound("snapshot", key)
            if row.kind != "active":
                raise InvalidState("snapshot", key, row.kind, "commit")
            merged = {**row.labels, **(labels or {})}
            conn.execute(
                "UPDATE snapshots SET key = ?, kind = 'committed', updated = ?, size = ?,"
                " inodes = ?, labels = ? WHERE key = ?",
                (name, self.clock(), size, inodes, _dump(merged), key),
            )
            # A lease that protected the active snapshot now protects its committed form.
            conn.execute(
                "UPDATE OR IGNORE lease_resources SET key = ? WHERE kind = 'snapshot' AND key = ?",
                (name, key),
            )
        result = self.get_snapshot(name)
        assert result is not None
        return result

    def delete_snapshot(self, key: str) -> SnapshotRecord:
        with self.transaction() as conn:
            row = self.get_snapshot(key)
            if row is None:
                raise NotFound("snapshot", key)
            conn.execute("DELETE FROM snapshots WHERE key = ?", (key,))
        return row

    @staticmethod
    def _snapshot(row: sqlite3.Row) -> SnapshotRecord:
        return SnapshotRecord(
            id=row["id"],
            key=row["key"],
            parent=row["parent"],
            kind=row["kind"],
            created=row["created"],
            updated=row["updated"],
            size=row["size"],
            inodes=row["inodes"],
            labels=_labels(row["labels"]),
        )

    # --- leases ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lease(
        self,
        name: str | None = None,
        expires: float | None = 24 * 3600.0,
        labels: Mapping[str, str] | None = None,
    ) -> Iterator[Lease]:
        """A lease for the duration of a pull or build; deleted on exit, even on error.

        ``expires`` is seconds from now (None: never), so that a lease left behind by a
        killed process stops protecting its resources and GC can reclaim them.
        """
        lease = self.create_lease(name, expires, labels)
        try:
            yield lease
        finally:
            self.delete_lease(lease.id)

    def create_lease(
        self,
        name: str | None = None,
        expires: float | None = 24 * 3600.0,
        labels: Mapping[str, str] | None = None,
    ) -> Lease:
        lease_id = name or f"lease-{secrets.token_hex(8)}"
        now = self.clock()
        with self.transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO leases (id, created, expires, labels) VALUES (?, ?, ?, ?)",
                    (lease_id, now, None if expires is None else now + expires, _dump(labels)),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists("lease", lease_id) from None
        return Lease(self, lease_id)

    def delete_lease(self, lease_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM leases WHERE id = ?", (lease_id,))

    def leases(self) -> list[LeaseRecord]:
        rows = self.query("SELECT * FROM leases ORDER BY created")
        return [
            LeaseRecord(r["id"], r["created"], r["expires"], _labels(r["labels"])) for r in rows
        ]

    def add_lease_resource(self, lease_id: str, kind: str, key: str) -> None:
        if kind not in LEASE_KINDS:
            raise ValueError(f"lease resource kind {kind!r} not one of {LEASE_KINDS}")
        with self.transaction() as conn:
            try:
                conn.execute(
                    "INSERT OR IGNORE INTO lease_resources (lease_id, kind, key) VALUES (?, ?, ?)",
                    (lease_id, kind, key),
                )
            except sqlite3.IntegrityError:
                raise NotFound("lease", lease_id) from None

    def lease_resources(self, lease_id: str) -> list[tuple[str, str]]:
        rows = self.query(
            "SELECT kind, key FROM lease_resources WHERE lease_id = ? ORDER BY kind, key",
            (lease_id,),
        )
        return [(r["kind"], r["key"]) for r in rows]

    def leased(self, now: float | None = None) -> dict[str, set[str]]:
        """Resources held by leases that have not expired, by kind."""
        now = self.clock() if now is None else now
        rows = self.query(
            "SELECT r.kind, r.key FROM lease_resources r JOIN leases l ON l.id = r.lease_id"
            " WHERE l.expires IS NULL OR l.expires > ?",
            (now,),
        )
        out: dict[str, set[str]] = {kind: set() for kind in LEASE_KINDS}
        for row in rows:
            out[row["kind"]].add(row["key"])
        return out

    def delete_expired_leases(self, now: float | None = None) -> list[str]:
        now = self.clock() if now is None else now
        with self.transaction() as conn:
            rows = conn.execute(
                "SELECT id FROM leases WHERE expires IS NOT NULL AND expires <= ?", (now,)
            ).fetchall()
            conn.execute("DELETE FROM leases WHERE expires IS NOT NULL AND expires <= ?", (now,))
        return [r[0] for r in rows]

    # --- what the engine and builder reference (read by gc.py) ---------------------------------

    def engine_references(self) -> tuple[set[str], set[str]]:
        """(image IDs, snapshot keys) used by containers and the build cache."""
        images: set[str] = set()
        keys: set[str] = set()
        for table in ("containers", "build_cache"):
            for row in self.query(f"SELECT image_id, snapshot_key FROM {table}"):
                if row["image_id"]:
                    images.add(row["image_id"])
                if row["snapshot_key"]:
                    keys.add(row["snapshot_key"])
        return images, keys

    def image_layer_snapshot_keys(self, image_ids: Iterable[str] | None = None) -> set[str]:
        """Snapshot keys of the layers of the given images (all images when None)."""
        sql = (
            "SELECT DISTINCT COALESCE(l.snapshot_key, il.chain_id) AS key FROM image_layers il"
            " LEFT JOIN layers l ON l.chain_id = il.chain_id"
        )
        if image_ids is None:
            return {r["key"] for r in self.query(sql)}
        out: set[str] = set()
        for image_id in image_ids:
            rows = self.query(sql + " WHERE il.image_id = ?", (image_id,))
            out.update(r["key"] for r in rows)
        return out
