"""`docker push`: layers (up to three at once) and config, then the manifest.

A blob the registry already has is skipped; one that this image was pulled with
from another repository of the same registry is mounted across instead of sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ..distribution.client import RegistryClient
from .manifest import Descriptor
from .progress import Progress, ProgressEvent, ignore, short_id
from .reference import parse_reference
from .store import ImageStore
from .tasks import run_all

READ_CHUNK = 1 << 20


async def push(store: ImageStore, reference: str, client: RegistryClient, *,
               progress: Progress = ignore, max_concurrent: int = 3) -> str:
    """Push the local image `reference` to its registry; returns the manifest digest."""
    ref = parse_reference(reference)
    image = store.resolve(reference)
    manifest = store.manifest_of(image)
    source = image.labels.get("dockyard.source", "")
    mount_from = None
    if source.startswith(ref.domain + "/") and source != f"{ref.domain}/{ref.path}":
        mount_from = source[len(ref.domain) + 1:]
    progress(ProgressEvent(f"The push refers to repository [{ref.familiar_name}]"))
    uploads = asyncio.Semaphore(max_concurrent)

    async def send(desc: Descriptor, show: bool) -> None:
        layer_id = short_id(desc.digest)
        if show:
            progress(ProgressEvent("Preparing", layer_id))
        if await client.blob_exists(ref.path, desc.digest) is not None:
            if show:
                progress(ProgressEvent("Layer already exists", layer_id))
            return
        async with uploads:
            if mount_from and await client.mount_blob(ref.path, desc.digest, mount_from):
                if show:
                    progress(ProgressEvent(f"Mounted from {mount_from}", layer_id))
                return
            await client.upload_blob(
                ref.path, desc.digest, desc.size,
                _read(store, desc.digest, lambda done: show and progress(
                    ProgressEvent("Pushing", layer_id, done, desc.size))))
        if show:
            progress(ProgressEvent("Pushed", layer_id))

    # Docker lists the top layer first.
    await run_all([*(send(desc, show=True) for desc in reversed(manifest.layers)),
                   send(manifest.config, show=False)])
    digest = await client.put_manifest(ref.path, ref.digest or ref.tag or "latest",
                                       manifest.raw, manifest.media_type)
    store.meta.set_ref(f"{ref.name}@{digest}", image.id)
    progress(ProgressEvent(f"{ref.tag or 'latest'}: digest: {digest} size: {len(manifest.raw)}"))
    return digest


async def _read(store: ImageStore, digest: str, report: object) -> AsyncIterator[bytes]:
    """A blob from the content store, read in a thread a chunk at a time."""
    blob = await asyncio.to_thread(store.content.open, digest)
    try:
        done = 0
        while chunk := await asyncio.to_thread(blob.read, READ_CHUNK):
            done += len(chunk)
            report(done)  # type: ignore[operator]
            yield chunk
    finally:
        blob.close()
