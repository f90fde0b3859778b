"""Checking a login against a registry, as dockerd's ``POST /auth`` does."""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp

from .authconfig import AuthConfig
from .client import RegistryClient


async def verify_login(
    registry: str,
    auth: AuthConfig,
    *,
    insecure_registries: Iterable[str] = (),
    session: aiohttp.ClientSession | None = None,
) -> AuthConfig:
    """``GET /v2/`` with ``auth``: the credentials to store (an identity token if the token
    server handed out a refresh token), or :class:`AuthenticationError`."""
    async with RegistryClient(registry, credentials=auth, insecure_registries=insecure_registries,
                              session=session) as client:
        client.auth.offline = True
        await client.ping()
        refresh = next(iter(client.auth.refresh_tokens.values()), None)
    if refresh:
        return AuthConfig(username=auth.username, identity_token=refresh,
                          server_address=registry)
    return AuthConfig(username=auth.username, password=auth.password, server_address=registry)
