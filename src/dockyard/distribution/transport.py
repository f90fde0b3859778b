"""One registry request: authorization, redirects, retries.

- Redirects are followed here, not by aiohttp, so that ``Authorization`` goes only to the
  registry's own origin (a blob redirected to object storage is fetched without it). GET and
  HEAD follow any redirect; other methods follow 307/308 when their body can be sent again.
- A 401 from the registry asks the :class:`Authenticator` for new authorization and retries
  (at most twice) when the body can be sent again.
- Connection errors, timeouts, 429 and 5xx are retried as :class:`RetryPolicy` says; TLS
  errors are not (they will not heal, and the caller may fall back to another endpoint).
  When no retry is left a connection error becomes :class:`RegistryConnectionError`; an
  error status is handed back to the caller, who knows what it was about.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

import aiohttp
from yarl import URL

from .auth import Authenticator
from .endpoints import Endpoint
from .errors import RegistryConnectionError
from .retry import RetryPolicy
from .scope import Scope, merge

Body = bytes | AsyncIterable[bytes] | None
Sleep = Callable[[float], Awaitable[None]]

MAX_REDIRECTS = 10
MAX_AUTH_RETRIES = 2
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
RETRY_EXCEPTIONS = (aiohttp.ClientConnectionError, asyncio.TimeoutError)
_FINAL_EXCEPTIONS = (aiohttp.ClientSSLError, aiohttp.InvalidURL, aiohttp.TooManyRedirects)
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)


class Transport:
    """Sends requests for one registry client; owns its session unless given one."""

    def __init__(
        self,
        authenticator: Authenticator,
        policy: RetryPolicy,
        *,
        session: aiohttp.ClientSession | None = None,
        user_agent: str = "dockyard",
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.auth = authenticator
        self.policy = policy
        self.user_agent = user_agent
        self._session = session
        self._own = session is None
        self.sleep = sleep

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._own and self._session.closed):
            self._session = aiohttp.ClientSession(timeout=DEFAULT_TIMEOUT)
        return self._session

    async def aclose(self) -> None:
        if self._own and self._session is not None:
            await self._session.close()
            self._session = None

    @asynccontextmanager
    async def request(
        self, method: str, url: URL, endpoint: Endpoint, scopes: Sequence[Scope], **kw: object
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """:meth:`send` as a context manager that releases the response."""
        resp = await self.send(method, url, endpoint, scopes, **kw)  # type: ignore[arg-type]
        try:
            yield resp
        finally:
            resp.release()

    async def send(
        self,
        method: str,
        url: URL,
        endpoint: Endpoint,
        scopes: Sequence[Scope],
        *,
        headers: Mapping[str, str] | None = None,
        data: Body = None,
        raw: bool = False,
    ) -> aiohttp.ClientResponse:
        """The final response (the caller releases it); ``raw``: no decompression.

        An error raised by a streamed body (``data`` an async iterable) is raised as itself,
        not as the connection error aiohttp wraps it in.
        """
        replayable = not isinstance(data, AsyncIterable)
        body_errors: list[BaseException] = []
        if isinstance(data, AsyncIterable):
            data = _tracked(data, body_errors)
        attempt = 0
        while True:
            try:
                resp = await self._authorized(method, url, endpoint, scopes, headers, data, raw)
            except _FINAL_EXCEPTIONS as exc:
                raise RegistryConnectionError(method, str(url), exc) from exc
            except RETRY_EXCEPTIONS as exc:
                if body_errors:
                    raise body_errors[0] from exc
                if not replayable or attempt >= self.policy.retries:
                    raise RegistryConnectionError(method, str(url), exc) from exc
                await self.sleep(self.policy.backoff(attempt))
                attempt += 1
                continue
            delay = None
            if replayable:
                delay = self.policy.delay_for(resp.status, resp.headers.get("Retry-After"),
                                              attempt)
            if delay is None:
                return resp
            resp.release()
            await self.sleep(delay)
            attempt += 1

    async def _authorized(
        self, method: str, url: URL, endpoint: Endpoint, scopes: Sequence[Scope],
        headers: Mapping[str, str] | None, data: Body, raw: bool,
    ) -> aiohttp.ClientResponse:
        wanted = merge(scopes)
        for tries in range(MAX_AUTH_RETRIES + 1):
            resp, sent, final_url = await self._follow(method, url, endpoint, wanted, headers,
                                                       data, raw)
            if (resp.status != 401 or tries == MAX_AUTH_RETRIES or isinstance(data, AsyncIterable)
                    or not _same_origin(final_url, endpoint)):
                return resp
            challenges = resp.headers.getall("WWW-Authenticate", [])
            retry = await self.auth.challenged(endpoint.host, challenges, sent, wanted)
            if retry is None:
                return resp
            resp.release()
            wanted = retry
        raise AssertionError("unreachable")

    async def _follow(
        self, method: str, url: URL, endpoint: Endpoint, scopes: Sequence[Scope],
        headers: Mapping[str, str] | None, data: Body, raw: bool,
    ) -> tuple[aiohttp.ClientResponse, str | None, URL]:
        session = await self.session()
        for _ in range(MAX_REDIRECTS + 1):
            send = {"User-Agent": self.user_agent, **(headers or {})}
            sent = None
            ssl: bool = True
            if _same_origin(url, endpoint):
                ssl = endpoint.verify_tls
                sent = await self.auth.authorization(session, endpoint.host, scopes, ssl=ssl)
                if sent:
                    send["Authorization"] = sent
            resp = await session.request(
                method, url, headers=send, data=data, allow_redirects=False, ssl=ssl,
                auto_decompress=not raw, timeout=DEFAULT_TIMEOUT,
            )
            location = resp.headers.get("Location")
            if resp.status not in _REDIRECTS or not location:
                return resp, sent, url
            if method not in ("GET", "HEAD"):
                if resp.status == 303:
                    method, data = "GET", None
                elif resp.status not in (307, 308) or isinstance(data, AsyncIterable):
                    return resp, sent, url
            resp.release()
            url = url.join(URL(location, encoded=True))
        raise aiohttp.TooManyRedirects(resp.request_info, (), message="too many redirects")


async def _tracked(source: AsyncIterable[bytes], errors: list[BaseException]
                   ) -> AsyncIterator[bytes]:
    try:
        async for chunk in source:
            yield chunk
    except Exception as exc:
        errors.append(exc)
        raise


def _same_origin(url: URL, endpoint: Endpoint) -> bool:
    base = URL(endpoint.url)
    return (url.scheme, url.raw_authority) == (base.scheme, base.raw_authority)
