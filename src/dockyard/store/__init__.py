"""Storage: content-addressed blobs, SQLite metadata, snapshots, archives."""
