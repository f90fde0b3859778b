"""Authorization headers for registry requests, learnt from the registry's challenges.

Theory of operation: the first request to a host goes out anonymously. A 401 carries
``WWW-Authenticate``; :meth:`Authenticator.challenged` records the host's challenges and says
whether a retry can help. From then on :meth:`Authenticator.authorization` answers every
request to that host with ``Basic`` (username and password) or ``Bearer`` (a token from the
realm for the request's scopes, cached until it expires). The retry after a 401 asks for the
request's scopes merged with those the challenge named; the transport gives up after two.
Headers are only ever computed for the registry host itself; redirects to other hosts go
without them (see ``transport``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence

import aiohttp

from .authconfig import AuthConfig, basic_header
from .challenge import Challenge, parse_challenges
from .scope import Scope, merge, parse_scopes
from .token import CacheKey, Clock, Token, TokenCache, fetch_token


class Authenticator:
    """Challenges and tokens for the hosts of one registry client."""

    def __init__(
        self,
        credentials: Callable[[str], Awaitable[AuthConfig | None]],
        *,
        clock: Clock | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.credentials = credentials
        self.offline = False  # ask for a refresh token (login)
        self.refresh_tokens: dict[str, str] = {}
        self._challenges: dict[str, list[Challenge]] = {}
        self._tokens = TokenCache(clock) if clock else TokenCache()
        self._pending: dict[CacheKey, asyncio.Future[Token]] = {}
        self._headers = {"User-Agent": user_agent} if user_agent else None

    def challenges(self, host: str) -> list[Challenge]:
        return list(self._challenges.get(host, ()))

    async def authorization(
        self, session: aiohttp.ClientSession, host: str, scopes: Sequence[Scope], *,
        ssl: bool = True,
    ) -> str | None:
        """The ``Authorization`` value for a request to ``host`` needing ``scopes``."""
        challenges = self._challenges.get(host)
        if not challenges:
            return None
        creds = await self.credentials(host)
        bearer = _first(challenges, "bearer")
        if bearer is not None:
            if creds is not None and creds.registry_token:
                return f"Bearer {creds.registry_token}"
            token = await self._token(session, host, bearer, scopes, creds, ssl=ssl)
            return f"Bearer {token.token}"
        if _first(challenges, "basic") is not None and creds is not None and creds.username:
            return basic_header(creds.username, creds.password)
        return None

    async def challenged(
        self, host: str, headers: Iterable[str], sent: str | None, scopes: Sequence[Scope]
    ) -> tuple[Scope, ...] | None:
        """Record a 401's challenges; the scopes to retry with, or None when a retry is futile.

        The challenge's own ``scope`` (what this request needs, e.g. after
        ``error="insufficient_scope"``) is merged into the retry's scopes only; the host
        keeps the realm and service for later requests.
        """
        usable = [c for c in parse_challenges(list(headers)) if c.scheme in ("bearer", "basic")]
        if not usable:
            return None
        self._challenges[host] = usable
        bearer = _first(usable, "bearer")
        if bearer is not None:
            wanted = merge([*scopes, *parse_scopes(" ".join(bearer.scopes))])
            if sent is not None and sent.startswith("Bearer "):
                self._tokens.drop(self._key(bearer, scopes))
                creds = await self.credentials(host)
                if creds is not None and creds.registry_token:
                    return None
            return wanted
        if sent is None:
            creds = await self.credentials(host)
            if creds is not None and creds.username:
                return merge(scopes)
        return None

    async def _token(
        self, session: aiohttp.ClientSession, host: str, challenge: Challenge,
        scopes: Sequence[Scope], creds: AuthConfig | None, *, ssl: bool,
    ) -> Token:
        key = self._key(challenge, scopes)
        token = self._tokens.get(key)
        if token is not None:
            return token
        # Parallel requests (layers pulled three at a time) share one fetch. It runs as its
        # own task so that one waiter being cancelled does not cancel it for the others.
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(fetch_token(
                session, challenge, key[2], creds, self._tokens, offline=self.offline, ssl=ssl,
                headers=self._headers))
            self._pending[key] = pending
            pending.add_done_callback(lambda t: self._fetched(key, host, t))
        return await asyncio.shield(pending)

    def _fetched(self, key: CacheKey, host: str, task: asyncio.Future[Token]) -> None:
        self._pending.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        token = task.result()
        self._tokens.put(key, token)
        if token.refresh_token:
            self.refresh_tokens[host] = token.refresh_token

    @staticmethod
    def _key(challenge: Challenge, scopes: Sequence[Scope]) -> CacheKey:
        return (challenge.realm or "", challenge.service or "", merge(scopes))


def _first(challenges: Iterable[Challenge], scheme: str) -> Challenge | None:
    return next((c for c in challenges if c.scheme == scheme), None)
