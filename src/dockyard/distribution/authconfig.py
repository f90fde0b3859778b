"""Credentials for one registry, as Docker's ``AuthConfig`` holds them."""

from __future__ import annotations

import base64
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class AuthConfig:
    """A username and password, or an identity (refresh) token, or a ready bearer token.

    ``identity_token`` is what ``docker login`` stores when the token server hands out a
    refresh token; ``registry_token`` is sent as-is as ``Authorization: Bearer``.
    """

    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""
    server_address: str = ""

    def __repr__(self) -> str:
        secret = "***" if self.password or self.identity_token or self.registry_token else ""
        return f"AuthConfig(username={self.username!r}, secret={secret!r})"

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)


def basic_header(username: str, password: str) -> str:
    """``Authorization: Basic`` for a username and password."""
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


#: Looks up credentials by registry host (``docker.io``, ``localhost:5000``).
CredentialLookup = Callable[[str], "AuthConfig | Awaitable[AuthConfig | None] | None"]
CredentialSource = AuthConfig | CredentialLookup | None


async def resolve(source: CredentialSource, name: str, *, own: bool) -> AuthConfig | None:
    """The credentials ``source`` has for registry ``name``.

    A plain :class:`AuthConfig` belongs to the client's own registry (``own``) and is never
    offered to a mirror; a lookup is asked by name.
    """
    if source is None:
        return None
    if isinstance(source, AuthConfig):
        return source if own and not source.empty else None
    found = source(name)
    if inspect.isawaitable(found):
        found = await found
    return found if found is not None and not found.empty else None
