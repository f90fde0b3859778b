"""Unpacking a layer blob into a snapshot keyed by its chain ID.

The snapshot is prepared under a temporary key on top of the parent chain, the
layer extracted into its directory (overlay whiteouts on an overlay snapshotter,
applied deletions on the copying one), the diff ID checked, and only then
committed under the chain ID: a crash or a bad layer leaves no committed snapshot.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable

from ..store.archive.extract import extract_layer
from ..store.archive.hooks import Reader
from ..store.errors import AlreadyExists
from ..store.metadata import LayerRecord, Lease
from ..store.snapshots import chain_key
from .store import ImageStore


def unpack_layer(store: ImageStore, *, blob_digest: str, media_type: str, diff_id: str,
                 chain_id: str, parent_chain: str | None, lease: Lease | None = None,
                 image: str = "", progress: Callable[[int], None] | None = None,
                 source: Reader | None = None) -> LayerRecord:
    """`source` streams the blob while it downloads; by default it is read from the
    content store."""
    existing = store.meta.get_layer(chain_id)
    if existing is not None and store.meta.get_snapshot(chain_key(chain_id)) is not None:
        return existing
    key = f"unpack-{chain_id.removeprefix('sha256:')[:16]}-{secrets.token_hex(4)}"
    store.snapshots.prepare(key, chain_key(parent_chain) if parent_chain else None, lease=lease)
    try:
        target = store.snapshots.fs_path(key)
        whiteouts = "overlay" if store.snapshots.driver == "overlay" else "apply"
        with contextlib.ExitStack() as stack:
            raw = source if source is not None else stack.enter_context(
                store.content.open(blob_digest))
            # Both digests are checked as the blob streams through: the blob's against
            # the manifest, the uncompressed tar's against the config's diff ID.
            stats = extract_layer(raw, target, whiteout_format=whiteouts, media_type=media_type,
                                  expected_digest=blob_digest, expected_diff_id=diff_id,
                                  progress=progress, label=f"{image} layer {blob_digest}".strip())
        try:
            store.snapshots.commit(chain_key(chain_id), key)
        except AlreadyExists:
            store.snapshots.remove(key)  # a concurrent pull unpacked it first
    except BaseException:
        try:
            store.snapshots.remove(key)
        except Exception:
            pass
        raise
    record = LayerRecord(chain_id=chain_id, diff_id=diff_id, snapshot_key=chain_key(chain_id),
                         parent=parent_chain, size=stats.size)
    store.meta.put_layer(record)
    store.meta.put_layer_blob(blob_digest, diff_id, media_type)
    return record
