"""Images made here rather than pulled: a layer from a tar stream, then the config and
manifest around the layers, unpacked and tagged. Bootstrap, import, commit and load
all end here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import BinaryIO

from ..store.archive import Codec, compress_and_digest
from ..store.metadata import ImageRecord, Lease
from . import mediatypes as mt
from .config import ImageConfig, chain_ids
from .manifest import Descriptor, build_image_manifest
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
