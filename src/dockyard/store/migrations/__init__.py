"""Ordered schema migrations for metadata.db, tracked by ``PRAGMA user_version``.

Theory of operation: version N of the schema is what migrations 1..N produce. A database at
version k < LATEST is brought forward by applying k+1..LATEST in order, each in its own
``BEGIN IMMEDIATE`` transaction together with the ``user_version`` bump, so that a crash
leaves the database at some whole version, never between two. The version is re-read
after the write lock is taken, so two processes opening an old database at once apply
each step exactly once. Statements are plain ``CREATE ... IF NOT EXISTS`` where possible
so that re-running a step is harmless. Never edit a released step: append a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import SchemaTooNew
from . import v1_images, v2_engine, v3_network


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: Sequence[str]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "images, layers, snapshots, leases", v1_images.STATEMENTS),
    Migration(2, "containers, volumes, networks, build cache", v2_engine.STATEMENTS),
    Migration(3, "ip allocations, network attachments and endpoints", v3_network.STATEMENTS),
)
LATEST = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: str, target: int = LATEST) -> int:
    """Bring the database on ``conn`` (autocommit mode) up to ``target``; return the version.

    Raises SchemaTooNew when the database was written by a newer dockyard: opening it
    would risk silently ignoring (or corrupting) data this version does not understand.
    """
    found = schema_version(conn)
    if found > LATEST:
        raise SchemaTooNew(path, found, LATEST)
    for step in MIGRATIONS:
        if step.version > target:
            break
        if step.version <= found:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the write lock.
            current = schema_version(conn)
            if current > LATEST:
                raise SchemaTooNew(path, current, LATEST)
            if current < step.version:
                # executescript() would COMMIT first, so statements run one by one.
                for statement in step.statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {step.version:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        found = step.version
    return schema_version(conn)
