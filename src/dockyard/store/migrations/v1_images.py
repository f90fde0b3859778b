"""Schema version 1: images and references, layers, snapshots, leases.

Digests are stored as ``<alg>:<hex>`` text; times as Unix seconds (REAL); free-form data
(labels, options) as JSON text so that later features need no migration for a new key.
"""

STATEMENTS = (
    # An image is its config digest (Docker's image ID). manifest_digest/media_type describe
    # the target that was pulled or loaded (a manifest or an index), if there was one.
    """CREATE TABLE IF NOT EXISTS images (
        id              TEXT PRIMARY KEY,
        manifest_digest TEXT,
        media_type      TEXT NOT NULL,
        created         TEXT,
        size            INTEGER NOT NULL DEFAULT 0,
        labels          TEXT NOT NULL DEFAULT '{}',
        added           REAL NOT NULL
    )""",
    # Normalised references: 'docker.io/library/busybox:latest' (tag) or
    # 'docker.io/library/busybox@sha256:..' (repo digest), each naming one image.
    """CREATE TABLE IF NOT EXISTS refs (
        name     TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        kind     TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
        updated  REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS refs_image ON refs(image_id)",
    # One row per unpacked layer stack: chain ID -> the committed snapshot holding it.
    """CREATE TABLE IF NOT EXISTS layers (
        chain_id     TEXT PRIMARY KEY,
        diff_id      TEXT NOT NULL,
        parent       TEXT,
        snapshot_key TEXT NOT NULL,
        size         INTEGER NOT NULL DEFAULT 0
    )""",
    # An image's layers bottom to top (position 0 is the base).
    """CREATE TABLE IF NOT EXISTS image_layers (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        diff_id  TEXT NOT NULL,
        chain_id TEXT NOT NULL,
        PRIMARY KEY (image_id, position)
    )""",
    "CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id)",
    # Compressed blob -> diff ID, learnt on pull or push, so that a layer already unpacked
    # is not downloaded again and a push can reuse a known blob.
    """CREATE TABLE IF NOT EXISTS layer_blobs (
        digest     TEXT PRIMARY KEY,
        diff_id    TEXT NOT NULL,
        media_type TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS layer_blobs_diff ON layer_blobs(diff_id)",
    # id names the directory snapshots/<id>/; AUTOINCREMENT so an id is never reused after a
    # delete, while the directory of the deleted snapshot may still be being removed.
    """CREATE TABLE IF NOT EXISTS snapshots (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        key      TEXT NOT NULL UNIQUE,
        parent   TEXT REFERENCES snapshots(key),
        kind     TEXT NOT NULL CHECK (kind IN ('active', 'committed', 'view')),
        created  REAL NOT NULL,
        updated  REAL NOT NULL,
        size     INTEGER,
        inodes   INTEGER,
        labels   TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent)",
    """CREATE TABLE IF NOT EXISTS leases (
        id      TEXT PRIMARY KEY,
        created REAL NOT NULL,
        expires REAL,
        labels  TEXT NOT NULL DEFAULT '{}'
    )""",
    """CREATE TABLE IF NOT EXISTS lease_resources (
        lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
        kind     TEXT NOT NULL CHECK (kind IN ('content', 'snapshot', 'ingest')),
        key      TEXT NOT NULL,
        PRIMARY KEY (lease_id, kind, key)
    )""",
)
