"""Docker credential helpers: ``docker-credential-<name> get|store|erase``.

``get`` reads the server URL on stdin and prints ``{"ServerURL", "Username", "Secret"}``; a
``Username`` of ``<token>`` means the secret is an identity token. A helper that has nothing
prints ``credentials not found in native keychain`` and exits non-zero.
``store`` reads that JSON on stdin; ``erase`` reads the server URL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping

from .authconfig import AuthConfig
from .errors import DistributionError

TOKEN_USERNAME = "<token>"
NOT_FOUND = "credentials not found in native keychain"
TIMEOUT = 60.0


class CredentialHelperError(DistributionError):
    """A credential helper is missing or failed."""


def helper_get(name: str, server_url: str, *, env: Mapping[str, str] | None = None
               ) -> AuthConfig | None:
    out = _run(name, "get", server_url, env)
    if out is None:
        return None
    try:
        doc = json.loads(out)
    except ValueError:
        raise CredentialHelperError(f"docker-credential-{name}: output is not JSON") from None
    if not isinstance(doc, dict):
        raise CredentialHelperError(f"docker-credential-{name}: output is not an object")
    username = str(doc.get("Username") or "")
    secret = str(doc.get("Secret") or "")
    if username == TOKEN_USERNAME:
        return AuthConfig(identity_token=secret, server_address=server_url)
    return AuthConfig(username=username, password=secret, server_address=server_url)


def helper_store(name: str, server_url: str, auth: AuthConfig, *,
                 env: Mapping[str, str] | None = None) -> None:
    if auth.identity_token:
        username, secret = TOKEN_USERNAME, auth.identity_token
    else:
        username, secret = auth.username, auth.password
    doc = {"ServerURL": server_url, "Username": username, "Secret": secret}
    _run(name, "store", json.dumps(doc), env)


def helper_erase(name: str, server_url: str, *, env: Mapping[str, str] | None = None) -> None:
    _run(name, "erase", server_url, env)


def _run(name: str, action: str, stdin: str, env: Mapping[str, str] | None) -> str | None:
    """The helper's stdout; None when it says it has no credentials."""
    program = f"docker-credential-{name}"
    path = shutil.which(program, path=(env or os.environ).get("PATH"))
    if path is None:
        raise CredentialHelperError(f"{program}: executable file not found in $PATH")
    try:
        proc = subprocess.run([path, action], input=stdin, capture_output=True, text=True,
                              timeout=TIMEOUT, env=dict(env) if env is not None else None,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CredentialHelperError(f"{program} {action}: {exc}") from exc
    if proc.returncode != 0:
        message = (proc.stdout.strip() or proc.stderr.strip() or f"exit {proc.returncode}")
        if NOT_FOUND in message:
            return None
        raise CredentialHelperError(f"{program} {action}: {message}")
    return proc.stdout
