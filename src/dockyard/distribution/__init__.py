"""Registry client: transport, auth and credentials for the OCI Distribution API.

Modules, each with one job:

    endpoints    which URLs (mirrors, HTTPS/HTTP) serve a registry host
    challenge    WWW-Authenticate parsing
    scope        token scopes (repository:name:pull,push)
    token        bearer tokens from a token server, and their cache
    auth         Authorization for a request, learnt from 401 challenges
    authconfig   AuthConfig (username/password, identity token)
    credentials  ~/.docker/config.json: auths, credsStore, credHelpers, login, logout
    credhelper   docker-credential-<name> get/store/erase
    login        checking a login against a registry
    retry        backoff, jitter, Retry-After
    transport    one request: auth, redirects (no Authorization across hosts), retries
    urls         Location, Link, repository and reference checks
    blobs        reading a blob with Range resume
    upload       one blob upload session
    client       RegistryClient: one method per API operation
    errors       RegistryError and friends, Docker's messages

Names are imported lazily so that ``dockyard.distribution.credentials`` does not pull in
aiohttp (the CLI starts fast).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "RegistryClient": "client",
    "Manifest": "client",
    "ManifestInfo": "client",
    "BlobStream": "blobs",
    "AuthConfig": "authconfig",
    "RetryPolicy": "retry",
    "Endpoint": "endpoints",
    "endpoints_for": "endpoints",
    "Challenge": "challenge",
    "parse_challenges": "challenge",
    "Scope": "scope",
    "DistributionError": "errors",
    "RegistryError": "errors",
    "AuthenticationError": "errors",
    "NotFound": "errors",
    "TooManyRequests": "errors",
    "DigestMismatchError": "errors",
    "TruncatedBlobError": "errors",
    "RegistryConnectionError": "errors",
    "CredentialHelperError": "credhelper",
    "get_credentials": "credentials",
    "credential_lookup": "credentials",
    "store_credentials": "credentials",
    "login": "credentials",
    "logout": "credentials",
    "verify_login": "login",
}

__all__ = [
    "AuthConfig",
    "AuthenticationError",
    "BlobStream",
    "Challenge",
    "CredentialHelperError",
    "DigestMismatchError",
    "DistributionError",
    "Endpoint",
    "Manifest",
    "ManifestInfo",
    "NotFound",
    "RegistryClient",
    "RegistryConnectionError",
    "RegistryError",
    "RetryPolicy",
    "Scope",
    "TooManyRequests",
    "TruncatedBlobError",
    "credential_lookup",
    "endpoints_for",
    "get_credentials",
    "login",
    "logout",
    "parse_challenges",
    "store_credentials",
    "verify_login",
]

if TYPE_CHECKING:
    from .authconfig import AuthConfig
    from .blobs import BlobStream
    from .challenge import Challenge, parse_challenges
    from .client import Manifest, ManifestInfo, RegistryClient
    from .credentials import credential_lookup, get_credentials, login, logout, store_credentials
    from .credhelper import CredentialHelperError
    from .endpoints import Endpoint, endpoints_for
    from .errors import (
        AuthenticationError,
        DigestMismatchError,
        DistributionError,
        NotFound,
        RegistryConnectionError,
        RegistryError,
        TooManyRequests,
        TruncatedBlobError,
    )
    from .login import verify_login
    from .retry import RetryPolicy
    from .scope import Scope


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
