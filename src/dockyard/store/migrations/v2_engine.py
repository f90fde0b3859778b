"""Schema version 2: what the engine, volumes, networks and the builder keep.

Minimal columns that are queried or joined on; everything else lives in a JSON column
(``config``, ``options``, ``data``) owned by the feature that writes it.
"""

STATEMENTS = (
    # Runtime state (pid, status) lives in the container's state directory, not here:
    # the shim updates it while dockyardd may be down.
    """CREATE TABLE IF NOT EXISTS containers (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        image_id     TEXT,
        snapshot_key TEXT,
        created      REAL NOT NULL,
        config       TEXT NOT NULL DEFAULT '{}',
        labels       TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX IF NOT EXISTS containers_image ON containers(image_id)",
    """CREATE TABLE IF NOT EXISTS volumes (
        name       TEXT PRIMARY KEY,
        driver     TEXT NOT NULL DEFAULT 'local',
        mountpoint TEXT NOT NULL,
        created    REAL NOT NULL,
        options    TEXT NOT NULL DEFAULT '{}',
        labels     TEXT NOT NULL DEFAULT '{}'
    )""",
    """CREATE TABLE IF NOT EXISTS networks (
        id      TEXT PRIMARY KEY,
        name    TEXT NOT NULL UNIQUE,
        driver  TEXT NOT NULL DEFAULT 'bridge',
        created REAL NOT NULL,
        config  TEXT NOT NULL DEFAULT '{}',
        labels  TEXT NOT NULL DEFAULT '{}'
    )""",
    # A build step's cache key -> its result (a committed snapshot and/or an image config).
    """CREATE TABLE IF NOT EXISTS build_cache (
        key          TEXT PRIMARY KEY,
        parent       TEXT,
        snapshot_key TEXT,
        image_id     TEXT,
        created      REAL NOT NULL,
        last_used    REAL NOT NULL,
        usage_count  INTEGER NOT NULL DEFAULT 0,
        size         INTEGER NOT NULL DEFAULT 0,
        data         TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX IF NOT EXISTS build_cache_parent ON build_cache(parent)",
)
