"""Docker's client configuration (``~/.docker/config.json``): reading and storing logins.

- The file is ``$DOCKER_CONFIG/config.json`` (default ``~/.docker``) unless a path is given.
- ``auths`` maps a server key to ``{"auth": base64("user:pass")}`` (or ``username`` and
  ``password``), optionally ``identitytoken``. Keys may be written as URLs
  (``https://host/v1/``); they match by host. Docker Hub's key is ``https://index.docker.io/v1/``.
- ``credHelpers`` names a helper per registry; ``credsStore`` a helper for all others. When a
  helper applies, ``auths`` is not consulted for secrets (docker/cli does the same).
- Writes keep every other key of the file and are atomic (temp file, fsync, rename, 0600).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .authconfig import AuthConfig
from .credhelper import helper_erase, helper_get, helper_store
from .endpoints import DOCKER_HUB, normalize_host

if TYPE_CHECKING:
    import aiohttp

DOCKER_HUB_KEY = "https://index.docker.io/v1/"


class ConfigError(ValueError):
    """config.json cannot be read."""


def config_path(explicit: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    env = os.environ if env is None else env
    base = env.get("DOCKER_CONFIG") or str(Path(env.get("HOME") or Path.home()) / ".docker")
    return Path(base) / "config.json"


def server_key(registry: str) -> str:
    """The key Docker stores a registry's login under."""
    host = normalize_host(registry)
    return DOCKER_HUB_KEY if host == DOCKER_HUB else host


def load_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: not a JSON object")
    return doc


def helper_for(config: Mapping[str, Any], registry: str) -> str | None:
    """The credential helper that holds ``registry``'s login, if any."""
    host = normalize_host(registry)
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        for key, name in helpers.items():
            if normalize_host(key) == host and isinstance(name, str) and name:
                return name
    store = config.get("credsStore")
    return store if isinstance(store, str) and store else None


def auth_from_entry(entry: Mapping[str, Any], server: str = "") -> AuthConfig:
    """An ``auths`` entry: ``auth`` (base64 ``user:pass``) wins over ``username``/``password``."""
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ConfigError(f"invalid auth for {server or 'registry'}") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise ConfigError(f"invalid auth for {server or 'registry'}: no colon")
    return AuthConfig(
        username=username,
        password=password,
        identity_token=str(entry.get("identitytoken") or ""),
        registry_token=str(entry.get("registrytoken") or ""),
        server_address=server,
    )


def file_auth(config: Mapping[str, Any], registry: str) -> AuthConfig | None:
    host = normalize_host(registry)
    auths = config.get("auths")
    if not isinstance(auths, dict):
        return None
    for key in _keys_for(auths, host):
        entry = auths[key]
        if isinstance(entry, dict):
            auth = auth_from_entry(entry, key)
            if not auth.empty:
                return auth
    return None


def get_credentials(registry: str, path: str | os.PathLike[str] | None = None) -> AuthConfig | None:
    """The stored login for ``registry`` (``docker.io``, ``localhost:5000``), if any."""
    config = load_config(config_path(path))
    helper = helper_for(config, registry)
    if helper is not None:
        found = helper_get(helper, server_key(registry))
        return None if found is None or found.empty else found
    return file_auth(config, registry)


def credential_lookup(
    path: str | os.PathLike[str] | None = None,
) -> Callable[[str], Awaitable[AuthConfig | None]]:
    """An async lookup for :class:`RegistryClient`'s ``credentials`` reading this config."""

    async def lookup(registry: str) -> AuthConfig | None:
        return await asyncio.to_thread(get_credentials, registry, path)

    return lookup


def store_credentials(registry: str, auth: AuthConfig,
                      path: str | os.PathLike[str] | None = None) -> None:
    """Store a login: in the registry's helper if one applies, else base64 in ``auths``."""
    file = config_path(path)
    config = load_config(file)
    key = server_key(registry)
    auths = config.get("auths")
    if not isinstance(auths, dict):
        auths = config["auths"] = {}
    for old in _keys_for(auths, normalize_host(registry)):
        del auths[old]
    helper = helper_for(config, registry)
    if helper is not None:
        helper_store(helper, key, auth)
        auths[key] = {}
    else:
        password = "" if auth.identity_token else auth.password
        entry = {"auth": base64.b64encode(f"{auth.username}:{password}".encode()).decode()}
        if auth.identity_token:
            entry["identitytoken"] = auth.identity_token
        auths[key] = entry
    write_config(file, config)


def logout(registry: str, path: str | os.PathLike[str] | None = None) -> bool:
    """Forget ``registry``'s login (helper and file); True when there was one in the file."""
    file = config_path(path)
    config = load_config(file)
    helper = helper_for(config, registry)
    if helper is not None:
        helper_erase(helper, server_key(registry))
    auths = config.get("auths")
    keys = list(_keys_for(auths, normalize_host(registry))) if isinstance(auths, dict) else []
    for key in keys:
        del auths[key]  # type: ignore[union-attr]
    if keys:
        write_config(file, config)
    return bool(keys)


async def login(
    registry: str,
    username: str,
    password: str,
    config: str | os.PathLike[str] | None = None,
    *,
    insecure_registries: Iterable[str] = (),
    session: aiohttp.ClientSession | None = None,
) -> AuthConfig:
    """Check the login against the registry (``GET /v2/`` through its auth flow), then store it.

    When the token server hands out a refresh token, that identity token is stored instead
    of the password, as ``docker login`` does.
    """
    from .login import verify_login  # here: reading credentials must not import aiohttp

    auth = await verify_login(registry, AuthConfig(username=username, password=password),
                              insecure_registries=insecure_registries, session=session)
    await asyncio.to_thread(store_credentials, registry, auth, config)
    return auth


def write_config(path: Path, config: Mapping[str, Any]) -> None:
    """Atomically replace ``path`` (through a symlink, as docker/cli) with mode 0600."""
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            json.dump(config, f, indent="\t")
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _keys_for(auths: Mapping[str, Any], host: str) -> list[str]:
    """The ``auths`` keys naming ``host`` in any of Docker's forms."""
    return [k for k in auths if normalize_host(k) == host]
