"""One blob upload session: the state a registry's ``Location`` carries between requests.

States: *open* (after the POST; ``location`` points at the session and moves with every
answer, since distribution signs the offset into it) → *closed* (the PUT with ``?digest=``
was accepted) or *cancelled* (DELETE sent). Chunks go as PATCH with ``Content-Range:
<start>-<end>`` (inclusive) and must be at least ``min_chunk`` (``OCI-Chunk-Min-Length``)
except the last.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Sequence

import aiohttp
from yarl import URL

from .digest import algorithm_of
from .endpoints import Endpoint
from .errors import DigestMismatchError, DistributionError, RegistryError
from .responses import error_from
from .scope import Scope
from .transport import Body, Transport
from .urls import add_query, resolve_location

CANCEL_TIMEOUT = 5.0
OCTET = "application/octet-stream"


class UploadSession:
    def __init__(self, transport: Transport, endpoint: Endpoint, repository: str,
                 scopes: Sequence[Scope], location: URL, min_chunk: int = 0) -> None:
        self.transport = transport
        self.endpoint = endpoint
        self.repository = repository
        self.scopes = scopes
        self.location = location
        self.min_chunk = min_chunk
        self.state = "open"

    @classmethod
    def from_response(cls, transport: Transport, endpoint: Endpoint, repository: str,
                      scopes: Sequence[Scope], resp: aiohttp.ClientResponse) -> UploadSession:
        location = resp.headers.get("Location")
        if not location:
            raise RegistryError(resp.status, (), repository=repository, method=resp.method,
                                url=str(resp.url), text="upload response without Location")
        min_chunk = resp.headers.get("OCI-Chunk-Min-Length", "")
        return cls(transport, endpoint, repository, scopes,
                   resolve_location(resp.url, location),
                   int(min_chunk) if min_chunk.isdigit() else 0)

    async def send(self, digest: str, size: int, data: bytes | AsyncIterable[bytes], *,
                   chunk_size: int | None = None) -> str:
        """Send the whole blob and close the session: one PUT, or PATCHes of ``chunk_size``
        (raised to ``min_chunk``) and an empty PUT. Any failure or cancellation on the way
        DELETEs the session."""
        try:
            if isinstance(data, bytes):
                return await self.finish(digest, data, len(data))
            if chunk_size is None:
                return await self.finish(digest, exactly(data, size), size)
            sent = 0
            async for piece in rechunk(exactly(data, size), max(chunk_size, self.min_chunk)):
                await self.patch(piece, sent)
                sent += len(piece)
            return await self.finish(digest)
        except BaseException:
            await self.cancel()
            raise

    async def patch(self, data: bytes, start: int) -> None:
        self._check_open()
        headers = {"Content-Type": OCTET, "Content-Length": str(len(data)),
                   "Content-Range": f"{start}-{start + len(data) - 1}"}
        async with self.transport.request("PATCH", self.location, self.endpoint, self.scopes,
                                          headers=headers, data=data) as resp:
            if resp.status != 202:
                raise await error_from(resp, repository=self.repository,
                                       code_hint="BLOB_UPLOAD_UNKNOWN")
            self._move(resp)

    async def finish(self, digest: str, data: Body = None, size: int = 0) -> str:
        """PUT ``?digest=`` (with the rest of the blob, ``size`` bytes, if any)."""
        self._check_open()
        url = add_query(self.location, digest=digest)
        headers = {"Content-Type": OCTET, "Content-Length": str(size)}
        async with self.transport.request("PUT", url, self.endpoint, self.scopes,
                                          headers=headers, data=data) as resp:
            if resp.status not in (201, 204):
                raise await error_from(resp, repository=self.repository, reference=digest,
                                       code_hint="BLOB_UPLOAD_UNKNOWN")
            self.state = "closed"
            check_announced(resp, digest)
        return digest

    async def cancel(self) -> None:
        """DELETE the session, best effort, even while the calling task is being cancelled."""
        if self.state != "open":
            return
        self.state = "cancelled"
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CANCEL_TIMEOUT), self.transport.request(
                "DELETE", self.location, self.endpoint, self.scopes
            ):
                pass

    def _move(self, resp: aiohttp.ClientResponse) -> None:
        location = resp.headers.get("Location")
        if location:
            self.location = resolve_location(resp.url, location)

    def _check_open(self) -> None:
        if self.state != "open":
            raise DistributionError(f"upload session is {self.state}")


def check_announced(resp: aiohttp.ClientResponse, digest: str) -> None:
    announced = resp.headers.get("Docker-Content-Digest")
    if announced and algorithm_of(digest) == announced.partition(":")[0] and announced != digest:
        raise DigestMismatchError(f"uploaded blob {digest}", digest, announced)


async def exactly(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """``chunks`` passed through, failing if they add up to anything but ``size`` bytes."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > size:
            raise ValueError(f"blob is longer than the {size} bytes announced")
        if chunk:
            yield chunk
    if seen != size:
        raise ValueError(f"blob is {seen} bytes, not the {size} announced")


async def rechunk(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """``chunks`` regrouped into pieces of exactly ``size`` bytes (the last may be shorter)."""
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


async def collect(chunks: AsyncIterable[bytes], size: int) -> bytes:
    data = bytearray()
    async for chunk in exactly(chunks, size):
        data += chunk
    return bytes(data)
