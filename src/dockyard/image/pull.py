"""`docker pull`: manifest (an index resolved to this platform), config, then the
layers — up to three downloading at once, each unpacked as soon as it and the layer
below it are in, so that downloading and unpacking overlap.

Everything fetched is held by a lease until the image is recorded, so a GC running
meanwhile keeps it; a download interrupted at any point resumes from its ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable

from ..distribution.client import RegistryClient
from ..distribution.errors import (
    DistributionError,
    RegistryConnectionError,
    RegistryError,
    TruncatedBlobError,
)
from ..store.archive.hooks import Reader
from ..store.metadata import ImageRecord, LayerRecord, Lease
from ..store.snapshots import chain_key
from .config import ImageConfig, chain_ids, parse_image_config
from .manifest import Descriptor, ImageIndex, ImageManifest, parse_manifest
from .mediatypes import ACCEPT_MANIFESTS, is_foreign_layer
from .platform import select_manifest
from .progress import Progress, ProgressEvent, ignore, short_id
from .reference import Reference, parse_reference
from .store import ImageStore
from .tasks import run_all
from .unpack import unpack_layer

WRITE_BATCH = 1 << 20  # bytes gathered before one (threaded) write to the content store
DOWNLOAD_ATTEMPTS = 5


class PullError(RuntimeError):
    """A pull failed; the message names the image and, for a layer, the layer."""


async def pull(store: ImageStore, reference: str, client: RegistryClient, *,
               platform: str | None = None, progress: Progress = ignore,
               max_concurrent: int = 3) -> ImageRecord:
    ref = parse_reference(reference)
    what = ref.familiar()
    progress(ProgressEvent(f"Pulling from {ref.familiar_name}", ref.tag or ref.digest or ""))
    with store.meta.lease(expires=24 * 3600) as lease:
        top = await client.get_manifest(ref.path, ref.digest or ref.tag or "latest",
                                        ACCEPT_MANIFESTS)
        await asyncio.to_thread(store.content.write_blob, top.data, top.digest, lease)
        manifest = await _resolve_platform(store, client, ref, top.data, top.media_type,
                                           top.digest, platform, lease)
        config_bytes = await _small_blob(store, client, ref, manifest.config, lease)
        config = parse_image_config(config_bytes)
        if len(config.diff_ids) != len(manifest.layers):
            raise PullError(f"{what}: the manifest has {len(manifest.layers)} layers but the "
                            f"config {len(config.diff_ids)} diff IDs")
        up_to_date = _already_have(store, manifest.config.digest)
        sizes = await _pull_layers(store, client, ref, manifest, config, lease, progress,
                                   max_concurrent)
        image = store.meta.put_image(ImageRecord(
            id=manifest.config.digest, media_type=manifest.media_type,
            manifest_digest=manifest.digest, created=config.created, size=sum(sizes),
            diff_ids=tuple(config.diff_ids),
            labels={"dockyard.source": f"{ref.domain}/{ref.path}"},
        ))
    if ref.tag:
        store.meta.set_ref(str(ref), image.id)
    store.meta.set_ref(f"{ref.name}@{top.digest}", image.id)
    progress(ProgressEvent(f"Digest: {top.digest}"))
    state = "Image is up to date for" if up_to_date else "Downloaded newer image for"
    progress(ProgressEvent(f"Status: {state} {what}"))
    return image


def _already_have(store: ImageStore, image_id: str) -> bool:
    try:
        store.meta.get_image(image_id)
    except LookupError:
        return False
    return True


async def _resolve_platform(store: ImageStore, client: RegistryClient, ref: Reference,
                            data: bytes, media_type: str, digest: str, platform: str | None,
                            lease: Lease) -> ImageManifest:
    parsed = parse_manifest(data, media_type, expected_digest=digest)
    if isinstance(parsed, ImageManifest):
        return parsed
    assert isinstance(parsed, ImageIndex)
    chosen = select_manifest(parsed.manifests, platform)
    child = await client.get_manifest(ref.path, chosen.digest, ACCEPT_MANIFESTS)
    await asyncio.to_thread(store.content.write_blob, child.data, chosen.digest, lease)
    manifest = parse_manifest(child.data, child.media_type, expected_digest=chosen.digest)
    if not isinstance(manifest, ImageManifest):
        raise PullError(f"{ref.familiar()}: index entry {chosen.digest} is not an image manifest")
    return manifest


async def _small_blob(store: ImageStore, client: RegistryClient, ref: Reference,
                      desc: Descriptor, lease: Lease) -> bytes:
    if not store.content.exists(desc.digest):
        data = bytearray()
        async for chunk in client.open_blob(ref.path, desc.digest):
            data += chunk
        await asyncio.to_thread(store.content.write_blob, bytes(data), desc.digest, lease)
    return await asyncio.to_thread(store.content.read, desc.digest, True)


async def _pull_layers(store: ImageStore, client: RegistryClient, ref: Reference,
                       manifest: ImageManifest, config: ImageConfig, lease: Lease,
                       progress: Progress, max_concurrent: int) -> list[int]:
    chains = chain_ids(config.diff_ids)
    downloads = asyncio.Semaphore(max_concurrent)
    unpacked = [asyncio.Event() for _ in manifest.layers]
    sizes = [0] * len(manifest.layers)

    async def layer(index: int) -> None:
        desc = manifest.layers[index]
        layer_id = short_id(desc.digest)
        chain = chains[index]
        existing = store.meta.get_layer(chain)
        if existing and store.meta.get_snapshot(chain_key(chain)):
            if not store.content.exists(desc.digest):
                # Unpacked from another blob of the same content (a load, an import):
                # fetch this one too, so that a push of this image finds every blob.
                async with downloads:
                    await _download(store, client, ref, desc, lease, progress)
            progress(ProgressEvent("Already exists", layer_id))
            sizes[index] = existing.size
            lease.add_content(desc.digest)
            lease.add_snapshot(chain_key(chain))
            unpacked[index].set()
            return
        progress(ProgressEvent("Pulling fs layer", layer_id))
        if is_foreign_layer(desc.media_type):
            raise PullError(f"{ref.familiar()} layer {desc.digest}: foreign layers are not "
                            "supported")

        def extracting(done: int) -> None:
            progress(ProgressEvent("Extracting", layer_id, done, desc.size))

        def unpack(source: Reader | None = None) -> LayerRecord:
            return unpack_layer(
                store, blob_digest=desc.digest, media_type=desc.media_type,
                diff_id=config.diff_ids[index], chain_id=chain,
                parent_chain=chains[index - 1] if index else None, lease=lease,
                image=ref.familiar(), progress=extracting, source=source)

        record = None
        if not store.content.exists(desc.digest):
            if downloads.locked():
                progress(ProgressEvent("Waiting", layer_id))
            async with downloads:
                if index == 0 or unpacked[index - 1].is_set():
                    # The layer below is in: unpack while downloading.
                    record = await _download_and_unpack(store, client, ref, desc, lease,
                                                        progress, unpack)
                if record is None:
                    await _download(store, client, ref, desc, lease, progress)
        else:
            lease.add_content(desc.digest)
        progress(ProgressEvent("Download complete", layer_id))
        if record is None:
            if index:
                await unpacked[index - 1].wait()
            record = await asyncio.to_thread(unpack)
        lease.add_snapshot(chain_key(chain))
        sizes[index] = record.size
        progress(ProgressEvent("Pull complete", layer_id))
        unpacked[index].set()

    await run_all(layer(index) for index in range(len(manifest.layers)))
    return sizes


async def _download(store: ImageStore, client: RegistryClient, ref: Reference,
                    desc: Descriptor, lease: Lease, progress: Progress) -> None:
    """Into the content store, resuming from what an earlier attempt (or an earlier,
    killed process) left in the ingest."""
    layer_id = short_id(desc.digest)
    writer = store.content.writer(f"pull-{desc.digest}", expected=desc.digest, size=desc.size,
                                  lease=lease)
    try:
        for attempt in range(DOWNLOAD_ATTEMPTS):
            try:
                await _copy(client.open_blob(ref.path, desc.digest, writer.offset), writer,
                            lambda done: progress(ProgressEvent("Downloading", layer_id, done,
                                                                desc.size)))
                break
            except (DistributionError, OSError, TimeoutError) as err:
                if attempt + 1 == DOWNLOAD_ATTEMPTS or not _resumable(err):
                    raise PullError(f"{ref.familiar()} layer {desc.digest}: {err}") from err
                await asyncio.sleep(min(2 ** attempt * 0.2, 5))
        progress(ProgressEvent("Verifying Checksum", layer_id))
        await asyncio.to_thread(writer.commit, desc.size, desc.digest)
    except BaseException:
        with contextlib.suppress(Exception):
            writer.close()  # keeps the partial data: a later pull resumes from it
        raise


async def _download_and_unpack(store: ImageStore, client: RegistryClient, ref: Reference,
                               desc: Descriptor, lease: Lease, progress: Progress,
                               unpack: Callable[[Reader], LayerRecord]) -> LayerRecord | None:
    """Stream the blob into the content store and the extractor at once (one worker
    thread writes the blob and unpacks it). None when that is not possible — the ingest
    already holds part of the blob, or the connection broke: the caller then downloads
    (resuming) and unpacks from the store."""
    layer_id = short_id(desc.digest)
    writer = store.content.writer(f"pull-{desc.digest}", expected=desc.digest, size=desc.size,
                                  lease=lease)
    if writer.offset:
        writer.close()
        return None
    pipe = ChunkPipe()

    def work() -> LayerRecord:
        try:
            record = unpack(TeeReader(pipe, writer))
            writer.commit(desc.size, desc.digest)
            return record
        finally:
            pipe.close_reader()

    worker = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        batch = bytearray()
        async for chunk in client.open_blob(ref.path, desc.digest):
            batch += chunk
            if len(batch) >= WRITE_BATCH:
                if not await asyncio.to_thread(pipe.put, bytes(batch)):
                    break  # the worker stopped reading: its error is raised below
                batch.clear()
                progress(ProgressEvent("Downloading", layer_id, writer.offset, desc.size))
        if batch:
            await asyncio.to_thread(pipe.put, bytes(batch))
        await asyncio.to_thread(pipe.put, None)
        progress(ProgressEvent("Verifying Checksum", layer_id))
        return await worker
    except (DistributionError, OSError, TimeoutError) as err:
        pipe.fail(err)
        with contextlib.suppress(BaseException):
            await worker
        with contextlib.suppress(Exception):
            writer.close()
        if _resumable(err):
            return None
        raise PullError(f"{ref.familiar()} layer {desc.digest}: {err}") from err
    except BaseException:
        pipe.fail(RuntimeError("pull cancelled"))
        with contextlib.suppress(BaseException):
            await worker
        with contextlib.suppress(Exception):
            writer.close()
        raise


class ChunkPipe:
    """Chunks from the event loop to one reading thread, at most a few MiB in flight."""

    def __init__(self, depth: int = 4) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(depth)
        self._closed = threading.Event()
        self._buffer = b""

    def put(self, item: bytes | None) -> bool:
        """Blocks while full; False once the reader has gone (nothing more is wanted)."""
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fail(self, err: BaseException) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(err)
        self._closed.set()

    def close_reader(self) -> None:
        self._closed.set()

    def read(self, size: int = -1, /) -> bytes:
        while not self._buffer:
            item = self._queue.get()
            if item is None:
                self._queue.put(None)  # stay at end of file for later reads
                return b""
            if isinstance(item, BaseException):
                raise OSError(f"download failed: {item}")
            self._buffer = item
        if size < 0 or size >= len(self._buffer):
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class TeeReader:
    """Reads from `source` and writes what it read to `sink` (the content store)."""

    def __init__(self, source: Reader, sink: object) -> None:
        self.source, self.sink = source, sink

    def read(self, size: int = -1, /) -> bytes:
        data = self.source.read(size)
        if data:
            self.sink.write(data)  # type: ignore[attr-defined]
        return data


def _resumable(err: BaseException) -> bool:
    """A cut connection or a server error: worth resuming. A 4xx or a bad digest: not."""
    if isinstance(err, RegistryError):
        return err.status >= 500
    return isinstance(err, (TruncatedBlobError, RegistryConnectionError, OSError, TimeoutError))


async def _copy(chunks: AsyncIterator[bytes], writer: object, report: object) -> None:
    batch = bytearray()
    async for chunk in chunks:
        batch += chunk
        if len(batch) >= WRITE_BATCH:
            await asyncio.to_thread(writer.write, bytes(batch))  # type: ignore[attr-defined]
            batch.clear()
            report(writer.offset)  # type: ignore[attr-defined,operator]
    if batch:
        await asyncio.to_thread(writer.write, bytes(batch))  # type: ignore[attr-defined]
        report(writer.offset)  # type: ignore[attr-defined,operator]
