"""Errors raised by the store: content, metadata, snapshots and garbage collection.

Each error names the object it is about so that the daemon can turn it into one clear
Docker-style message (404 for NotFound, 409 for AlreadyExists/InUse) without a traceback.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class InvalidDigest(StoreError, ValueError):
    def __init__(self, digest: str) -> None:
        super().__init__(f"invalid digest {digest!r}: want sha256:<64 hex> or sha512:<128 hex>")
        self.digest = digest


class NotFound(StoreError, KeyError):
    def __init__(self, what: str, name: str) -> None:
        super().__init__(f"{what} {name} not found")
        self.what = what
        self.name = name

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class AlreadyExists(StoreError):
    def __init__(self, what: str, name: str) -> None:
        super().__init__(f"{what} {name} already exists")
        self.what = what
        self.name = name


class InUse(StoreError):
    """A conflict: the object is locked by another writer or still has dependants."""

    def __init__(self, what: str, name: str, reason: str) -> None:
        super().__init__(f"{what} {name} is in use: {reason}")
        self.what = what
        self.name = name


class DigestMismatch(StoreError):
    def __init__(self, expected: str, actual: str, what: str = "content") -> None:
        super().__init__(f"{what} digest mismatch: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class SizeMismatch(StoreError):
    def __init__(self, expected: int, actual: int, what: str = "content") -> None:
        super().__init__(f"{what} size mismatch: expected {expected} bytes, got {actual}")
        self.expected = expected
        self.actual = actual


class SchemaTooNew(StoreError):
    def __init__(self, path: str, found: int, known: int) -> None:
        super().__init__(
            f"{path}: schema version {found} is newer than this dockyard knows ({known});"
            " upgrade dockyard or use another --data-root"
        )
        self.found = found
        self.known = known


class InvalidState(StoreError):
    """An operation that the object's current state (kind) does not allow."""

    def __init__(self, what: str, name: str, state: str, operation: str) -> None:
        super().__init__(f"cannot {operation} {what} {name}: it is {state}")
        self.what = what
        self.name = name
        self.state = state
