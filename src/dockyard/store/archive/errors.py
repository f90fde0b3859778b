"""Errors of the archive layer, each naming the layer entry or stream it is about.

Digest and size mismatches are the store's own classes, so that the daemon catches one
kind of mismatch whether the content store or an extraction found it.
"""

from __future__ import annotations

from ..errors import DigestMismatch, InvalidDigest, SizeMismatch, StoreError

__all__ = [
    "ArchiveError",
    "Cancelled",
    "DigestMismatch",
    "InvalidDigest",
    "LayerEntryError",
    "SizeMismatch",
    "UnknownMediaType",
]


def quote(name: str) -> str:
    """Double-quote a (hostile) name for a one-line message: no raw newlines or NULs."""
    out = []
    for ch in name:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    return '"' + "".join(out) + '"'


class ArchiveError(StoreError):
    """A layer or tar stream that cannot be read, written or applied."""


class LayerEntryError(ArchiveError):
    """One entry of a tar stream was refused; ``name`` is the entry's name as written."""

    def __init__(self, name: str, reason: str, label: str | None = None) -> None:
        prefix = f"{label}: " if label else ""
        super().__init__(f"{prefix}layer entry {quote(name)}: {reason}")
        self.name = name
        self.reason = reason
        self.label = label


class UnknownMediaType(ArchiveError):
    def __init__(self, media_type: str) -> None:
        super().__init__(f"unknown layer media type {media_type!r}")
        self.media_type = media_type


class Cancelled(ArchiveError):
    """The caller's cancellation hook fired; whatever was being written is incomplete."""

    def __init__(self, what: str = "operation") -> None:
        super().__init__(f"{what} cancelled")
