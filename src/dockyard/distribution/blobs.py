"""Reading a blob's body: chunks, ``Range`` resume and truncation.

The stream starts at ``offset`` (``Range: bytes=<offset>-``). When the body breaks off
(the connection drops, or fewer bytes arrive than ``Content-Length`` / ``Content-Range``
announced) it reopens at the next byte, up to ``retries`` times, and then raises
:class:`TruncatedBlobError` naming where a later call can resume. A registry that ignores
``Range`` (200 instead of 206) has the bytes before the offset skipped.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import aiohttp

from .errors import DigestMismatchError, TruncatedBlobError

Opener = Callable[[int], Awaitable[aiohttp.ClientResponse]]
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_READ_ERRORS = (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, asyncio.TimeoutError)


class BlobStream:
    """An async iterator of a blob's bytes from ``offset``; also an async context manager.

    ``size`` is the whole blob's length once known (from the response or the caller),
    ``position`` the offset of the next byte. Leaving the ``async with`` block, reaching
    the end, an error or a cancellation releases the connection.
    """

    def __init__(self, opener: Opener, digest: str, offset: int = 0, *,
                 size: int | None = None, retries: int = 3) -> None:
        self._open = opener
        self.digest = digest
        self.offset = offset
        self.position = offset
        self.size = size
        self._retries = retries
        self._resp: aiohttp.ClientResponse | None = None
        self._end: int | None = None  # offset after the last byte this response will send
        self._skip = 0
        self._done = offset == size

    async def __aenter__(self) -> BlobStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> BlobStream:
        return self

    async def aclose(self) -> None:
        self._done = True
        self._release()

    async def __anext__(self) -> bytes:
        try:
            return await self._next()
        except BaseException:
            self._release()
            raise

    async def _next(self) -> bytes:
        while not self._done:
            if self._resp is None:
                await self._reopen()
                continue
            try:
                chunk = await self._resp.content.readany()
            except _READ_ERRORS as exc:
                await self._broken(str(exc) or type(exc).__name__)
                continue
            if not chunk:
                if self._end is not None and self.position < self._end:
                    await self._broken("connection closed early")
                    continue
                self._done = True
                break
            if self._skip:
                drop = min(self._skip, len(chunk))
                self._skip -= drop
                chunk = chunk[drop:]
                if not chunk:
                    continue
            if self._end is not None and self.position + len(chunk) > self._end:
                raise TruncatedBlobError(self.digest, self.position, self.size,
                                         "more bytes than announced")
            self.position += len(chunk)
            return chunk
        self._release()
        raise StopAsyncIteration

    async def _reopen(self) -> None:
        resp = await self._open(self.position)
        self._resp = resp
        if resp.status == 416 and self.position > 0:
            total = _total_of(resp.headers.get("Content-Range", ""))
            if total == self.position:  # nothing left to read
                self.size = total
                self._done = True
                return
        announced = resp.headers.get("Docker-Content-Digest")
        if announced and announced != self.digest and resp.status in (200, 206):
            raise DigestMismatchError(f"blob {self.digest}", self.digest, announced)
        length = resp.content_length if "Content-Encoding" not in resp.headers else None
        if resp.status == 206:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != self.position:
                raise TruncatedBlobError(self.digest, self.position, self.size,
                                         "registry answered a different range")
            self._end = int(m.group(2)) + 1
            if m.group(3) != "*":
                self.size = int(m.group(3))
            self._skip = 0
        else:  # 200: the whole blob, whatever Range asked
            self._skip = self.position
            self._end = None
            if length is not None:
                self.size = length
            if self.size is not None:
                self._end = self.size

    async def _broken(self, why: str) -> None:
        self._release()
        if self._retries <= 0:
            raise TruncatedBlobError(self.digest, self.position, self.size, why)
        self._retries -= 1

    def _release(self) -> None:
        if self._resp is not None:
            self._resp.release()
            self._resp = None


def _total_of(content_range: str) -> int | None:
    m = re.match(r"^bytes \*/(\d+)$", content_range)
    return int(m.group(1)) if m else None
