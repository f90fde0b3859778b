"""Bearer tokens from a token server (distribution docs/spec/auth/token.md and oauth.md).

GET ``realm?service=…&scope=…`` with Basic credentials (or none) answers
``{"token"|"access_token", "expires_in", "refresh_token"?}``. With an identity token the
OAuth2 form is POSTed instead (``grant_type=refresh_token``), falling back to the GET when
the server answers 404. A token lives ``expires_in`` seconds (default and minimum 60); the
cache keys it by realm, service and the merged scope set, and drops it a little early.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from .authconfig import AuthConfig, basic_header
from .challenge import Challenge
from .errors import AuthenticationError, RegistryError, make_error
from .scope import Scope

MIN_LIFETIME = 60.0
EXPIRY_MARGIN = 5.0
CLIENT_ID = "dockyard"
_MAX_BODY = 1 << 20
# Statuses on which a token server without the OAuth2 POST is retried with GET (containerd
# adds 400/401/405 for ACR, Artifactory; the spec names 404).
_OAUTH_FALLBACK = frozenset({400, 401, 404, 405})

Clock = Callable[[], float]


@dataclass(frozen=True)
class Token:
    token: str
    expires_at: float
    refresh_token: str | None = None


CacheKey = tuple[str, str, tuple[Scope, ...]]


class TokenCache:
    """Tokens by (realm, service, scope set) until they expire."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[CacheKey, Token] = {}

    def get(self, key: CacheKey) -> Token | None:
        token = self._tokens.get(key)
        if token is not None and token.expires_at <= self._clock():
            del self._tokens[key]
            return None
        return token

    def put(self, key: CacheKey, token: Token) -> None:
        self._tokens[key] = token

    def drop(self, key: CacheKey) -> None:
        self._tokens.pop(key, None)

    def expiry(self, expires_in: object) -> float:
        """Monotonic expiry time for a token issued now with ``expires_in`` seconds."""
        seconds = float(expires_in) if isinstance(expires_in, int | float) else MIN_LIFETIME
        seconds = max(seconds, MIN_LIFETIME)
        return self._clock() + seconds - EXPIRY_MARGIN


def token_params(challenge: Challenge, scopes: Sequence[Scope], *, offline: bool) -> list[
    tuple[str, str]
]:
    """Query parameters of the GET: ``service``, one ``scope`` per scope, offline flags."""
    params = []
    if challenge.service:
        params.append(("service", challenge.service))
    params.extend(("scope", str(s)) for s in scopes)
    if offline:
        params.extend([("offline_token", "true"), ("client_id", CLIENT_ID)])
    return params


async def fetch_token(
    session: aiohttp.ClientSession,
    challenge: Challenge,
    scopes: Sequence[Scope],
    creds: AuthConfig | None,
    cache: TokenCache,
    *,
    offline: bool = False,
    ssl: bool = True,
    headers: dict[str, str] | None = None,
) -> Token:
    """A new token for ``scopes`` from the challenge's realm (not cached here)."""
    realm = challenge.realm
    if not realm:
        raise AuthenticationError(401, (), text="bearer challenge without realm")
    if creds is not None and creds.identity_token:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": creds.identity_token,
            "client_id": CLIENT_ID,
            "access_type": "offline",
        }
        if challenge.service:
            form["service"] = challenge.service
        if scopes:
            form["scope"] = " ".join(str(s) for s in scopes)
        async with session.post(realm, data=form, ssl=ssl, headers=headers,
                                allow_redirects=False) as resp:
            body = await resp.content.read(_MAX_BODY)
            if resp.status not in _OAUTH_FALLBACK:
                return _parse(resp.status, body, resp.headers, cache, realm)
    get_headers = dict(headers or {})
    if creds is not None and creds.username:
        # Without a password, the identity token stands in (containerd does the same).
        secret = creds.password or creds.identity_token
        get_headers["Authorization"] = basic_header(creds.username, secret)
    params = token_params(challenge, scopes, offline=offline)
    async with session.get(realm, params=params, ssl=ssl, headers=get_headers,
                           allow_redirects=False) as resp:
        body = await resp.content.read(_MAX_BODY)
        return _parse(resp.status, body, resp.headers, cache, realm)


def _parse(
    status: int, body: bytes, headers: Mapping[str, str], cache: TokenCache, realm: str
) -> Token:
    if status != 200:
        err = make_error(status, body, headers=headers, method="GET", url=realm)
        if isinstance(err, AuthenticationError) or status >= 500 or status == 429:
            raise err
        # Token servers answer bad credentials with 400 too (OAuth2 invalid_grant).
        raise AuthenticationError(status, err.errors, method="GET", url=realm, text=err.text)
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise RegistryError(status, (), method="GET", url=realm, text="token response is not JSON")
    value = doc.get("token") or doc.get("access_token")
    if not isinstance(value, str) or not value:
        raise RegistryError(status, (), method="GET", url=realm, text="token response has no token")
    refresh = doc.get("refresh_token")
    return Token(value, cache.expiry(doc.get("expires_in")),
                 refresh if isinstance(refresh, str) and refresh else None)
