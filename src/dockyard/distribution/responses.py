"""Reading registry responses: errors, media types, bounded bodies."""

from __future__ import annotations

import aiohttp

from .errors import DistributionError, RegistryError, make_error

MAX_ERROR_BODY = 64 * 1024


async def read_limited(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The body, refusing one longer than ``limit`` bytes."""
    if resp.content_length is not None and resp.content_length > limit:
        raise DistributionError(f"{what} is {resp.content_length} bytes, over the {limit} limit")
    data = bytearray()
    while chunk := await resp.content.read(65536):
        data += chunk
        if len(data) > limit:
            raise DistributionError(f"{what} is over the {limit} byte limit")
    return bytes(data)


async def error_from(
    resp: aiohttp.ClientResponse,
    *,
    repository: str | None = None,
    reference: str | None = None,
    code_hint: str | None = None,
) -> RegistryError:
    """The :class:`RegistryError` for an unexpected response (its body read, bounded)."""
    body = b""
    if resp.method != "HEAD":
        try:
            body = await resp.content.read(MAX_ERROR_BODY)
        except (aiohttp.ClientError, TimeoutError):
            body = b""
    return make_error(resp.status, body, headers=resp.headers, repository=repository,
                      reference=reference, method=resp.method, url=str(resp.url),
                      code_hint=code_hint)


def media_type(resp: aiohttp.ClientResponse) -> str:
    """``Content-Type`` without parameters ("" when absent)."""
    value = resp.headers.get("Content-Type", "")
    return value.split(";", 1)[0].strip().lower()
