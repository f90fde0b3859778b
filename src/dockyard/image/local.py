"""Images made here rather than pulled: a layer from a tar stream, then the config and
manifest around the layers, unpacked and tagged. Bootstrap, import, commit and load
all end here; export goes the other way, from a snapshot to a tar.
"""

from __future__ import annotations

import copy
import datetime
import os
import secrets
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from ..store.archive import Codec, compress_and_digest, write_diff, write_tree
from ..store.metadata import ImageRecord, Lease
from ..store.mounts import Mount, mount, unmount
from . import mediatypes as mt
from .changes import with_changes
from .config import HistoryEntry, ImageConfig, RunConfig, chain_ids, new_image_config
from .manifest import Descriptor, build_image_manifest
from .platform import host_platform
from .store import ImageStore, normalize
from .unpack import unpack_layer

TarWriter = Callable[[BinaryIO], None]


def add_layer(store: ImageStore, write_tar: TarWriter, lease: Lease) -> tuple[Descriptor, str]:
    """A layer blob (gzip) from `write_tar`, which writes an uncompressed tar to the file
    it is given; diff ID and blob digest come out of one streaming pass."""
    writer = store.content.writer(f"layer-{secrets.token_hex(8)}", lease=lease)
    try:
        diff_id, digest, size = compress_and_digest(write_tar, writer, Codec.GZIP)
        writer.commit(size, digest)
    except BaseException:
        writer.abort()
        raise
    return Descriptor(mt.OCI_LAYER_GZIP, digest, size), diff_id


def register_image(store: ImageStore, config: ImageConfig, layers: Sequence[Descriptor],
                   tags: Sequence[str], lease: Lease) -> ImageRecord:
    """Store config and manifest, unpack the layers, record the image, point tags at it."""
    config_bytes = config.blob
    config_digest = store.content.write_blob(config_bytes, lease=lease)
    manifest = build_image_manifest(Descriptor(mt.OCI_CONFIG, config_digest, len(config_bytes)),
                                    list(layers))
    store.content.write_blob(manifest.raw, manifest.digest, lease=lease)
    chains = chain_ids(config.diff_ids)
    size = 0
    for index, (desc, diff_id) in enumerate(zip(layers, config.diff_ids, strict=True)):
        record = unpack_layer(store, blob_digest=desc.digest, media_type=desc.media_type,
                              diff_id=diff_id, chain_id=chains[index],
                              parent_chain=chains[index - 1] if index else None, lease=lease)
        size += record.size
    image = store.meta.put_image(ImageRecord(
        id=config_digest, media_type=manifest.media_type, manifest_digest=manifest.digest,
        created=config.created, size=size, diff_ids=tuple(config.diff_ids)))
    for tag in tags:
        store.meta.set_ref(normalize(tag), image.id)
    return image


def import_image(store: ImageStore, source: BinaryIO, *, tags: Sequence[str] = (),
                 changes: Sequence[str] = (), message: str = "",
                 architecture: str | None = None) -> ImageRecord:
    """`docker import`: a root filesystem tarball (any codec) as a one-layer image."""
    from ..store.archive.codecs import decompressing_reader, sniff

    codec, sniffed = sniff(source)
    reader = decompressing_reader(sniffed, codec)

    def copy(out: BinaryIO) -> None:
        while chunk := reader.read(1 << 20):
            out.write(chunk)

    created = _now()
    with store.meta.lease(expires=3600) as lease:
        layer, diff_id = add_layer(store, copy, lease)
        config = new_image_config(
            architecture=architecture or host_platform().architecture,
            diff_ids=[diff_id], created=created, comment=message,
            history=[HistoryEntry(created=created, created_by="", comment=message
                                  or "Imported from tarball")],
        )
        if changes:
            config = with_changes(config, changes)
        return register_image(store, config, [layer], tags, lease)


def commit_snapshot(store: ImageStore, key: str, *, base: ImageRecord | None,
                    tags: Sequence[str] = (), changes: Sequence[str] = (),
                    author: str = "", message: str = "",
                    container_config: RunConfig | None = None) -> ImageRecord:
    """`docker commit`: the changes in a container's writable snapshot `key` as a new
    layer on top of its image `base`."""
    upper = store.snapshots.fs_path(key)
    lowers = []
    if store.snapshots.driver != "overlay" and base is not None and base.diff_ids:
        lowers = [store.snapshots.fs_path(base.chain_ids[-1])]
    created = _now()
    with store.meta.lease(expires=3600) as lease:
        layer, diff_id = add_layer(
            store, lambda out: write_diff(upper, out, lower_dirs=lowers), lease)
        if base is not None:
            parent = store.config_of(base)
            layers = list(store.manifest_of(base).layers)
        else:
            parent = new_image_config(architecture=host_platform().architecture)
            layers = []
        config = copy.deepcopy(parent)
        if container_config is not None:
            config.config = container_config
        config.diff_ids = [*config.diff_ids, diff_id]
        config.history = [*config.history, HistoryEntry(created=created, author=author,
                                                        comment=message)]
        config.created, config.author = created, author or config.author
        config.comment = message
        config = with_changes(config, changes) if changes else config.sealed()
        return register_image(store, config, [*layers, layer], tags, lease)


def export_snapshot(store: ImageStore, key: str, out: BinaryIO) -> int:
    """`docker export`: the merged filesystem of snapshot `key` as a tar (mounted
    read-only in a private directory for the duration, then unmounted)."""
    target = Path(tempfile.mkdtemp(prefix="export-", dir=store.root))
    mounts = [Mount(m.type, m.source, (*m.options, "ro")) for m in store.snapshots.mounts(key)]
    try:
        mount(mounts, str(target))
        try:
            return write_tree(target, out)
        finally:
            unmount(str(target), detach=True)
    finally:
        os.rmdir(target)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
