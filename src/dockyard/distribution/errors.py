"""Errors of the registry client, with Docker's one-line messages.

A registry answers an error with ``{"errors": [{"code", "message", "detail"}]}``. Docker prints
each as ``<code in lower case, "_" as " ">: <message>`` (distribution ``errcode.Error``), so
``MANIFEST_UNKNOWN`` reads ``manifest unknown: manifest unknown``. A body that is not that JSON
gets the code the status implies (401 ``UNAUTHORIZED``, 403 ``DENIED``, 429 ``TOOMANYREQUESTS``)
or the hint the caller gives (a HEAD on a missing manifest has no body: ``MANIFEST_UNKNOWN``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .retry import parse_retry_after

# Messages distribution uses for the codes it sends (registry/api/errcode, v2/errors.go).
DEFAULT_MESSAGES = {
    "UNAUTHORIZED": "authentication required",
    "DENIED": "requested access to the resource is denied",
    "TOOMANYREQUESTS": "too many requests",
    "MANIFEST_UNKNOWN": "manifest unknown",
    "BLOB_UNKNOWN": "blob unknown to registry",
    "BLOB_UPLOAD_UNKNOWN": "blob upload unknown to registry",
    "NAME_UNKNOWN": "repository name not known to registry",
    "UNSUPPORTED": "The operation is unsupported.",
    "UNAVAILABLE": "service unavailable",
}
_STATUS_CODES = {401: "UNAUTHORIZED", 403: "DENIED", 429: "TOOMANYREQUESTS", 503: "UNAVAILABLE"}
_MAX_TEXT = 200


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of a registry's ``errors`` array."""

    code: str
    message: str = ""
    detail: Any = None

    def __str__(self) -> str:
        text = self.code.replace("_", " ").lower()
        return f"{text}: {self.message}" if self.message else text


class DistributionError(Exception):
    """Base of every error the registry client raises."""


class RegistryError(DistributionError):
    """The registry answered with an error status."""

    def __init__(
        self,
        status: int,
        errors: Sequence[ErrorDetail] = (),
        *,
        repository: str | None = None,
        reference: str | None = None,
        method: str | None = None,
        url: str | None = None,
        text: str = "",
    ) -> None:
        self.status = status
        self.errors = tuple(errors)
        self.repository = repository
        self.reference = reference
        self.method = method
        self.url = url
        self.text = text
        super().__init__(str(self))

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.errors)

    def __str__(self) -> str:
        if self.errors:
            return "; ".join(str(e) for e in self.errors)
        where = f" from {self.method} request to {self.url}" if self.method and self.url else ""
        tail = f": {self.text}" if self.text else ""
        return f"unexpected status {self.status}{where}{tail}"


class AuthenticationError(RegistryError):
    """401 or 403: missing, wrong or insufficient credentials."""


class NotFound(RegistryError):
    """404: no such repository, manifest, blob or upload."""


class TooManyRequests(RegistryError):
    """429: rate limited; ``retry_after`` is the wait the registry asked for, if any."""

    retry_after: float | None = None


class DigestMismatchError(DistributionError):
    """Content does not match the digest it was fetched or announced by."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"digest mismatch for {what}: expected {expected}, got {actual}")


class TruncatedBlobError(DistributionError):
    """A blob's body ended before its announced length; ``received`` is where to resume."""

    def __init__(self, digest: str, received: int, expected: int | None, cause: str = "") -> None:
        self.digest = digest
        self.received = received
        self.expected = expected
        of = f" of {expected}" if expected is not None else ""
        why = f" ({cause})" if cause else ""
        super().__init__(f"blob {digest}: body truncated after {received}{of} bytes{why}")


class RegistryConnectionError(DistributionError):
    """The registry could not be reached (after retries)."""

    def __init__(self, method: str, url: str, cause: BaseException) -> None:
        self.method = method
        self.url = url
        super().__init__(f'{method} "{url}": {cause or type(cause).__name__}')


def parse_error_body(body: bytes) -> tuple[ErrorDetail, ...]:
    """The ``errors`` of an OCI error body; empty when the body is not one."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ()
    if not isinstance(doc, dict):
        return ()
    entries = doc.get("errors")
    if not isinstance(entries, list):
        # Token servers answer {"details": "..."} (Docker Hub: "incorrect username or password").
        details = doc.get("details") or doc.get("error_description") or doc.get("message")
        if isinstance(details, str) and details:
            return (ErrorDetail("UNAUTHORIZED", details),)
        return ()
    out = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("code"), str):
            message = entry.get("message")
            out.append(ErrorDetail(entry["code"], message if isinstance(message, str) else "",
                                   entry.get("detail")))
    return tuple(out)


def error_class(status: int) -> type[RegistryError]:
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFound
    if status == 429:
        return TooManyRequests
    return RegistryError


def make_error(
    status: int,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    repository: str | None = None,
    reference: str | None = None,
    method: str | None = None,
    url: str | None = None,
    code_hint: str | None = None,
) -> RegistryError:
    """The error for a response with ``status`` and ``body``."""
    errors = parse_error_body(body)
    if not errors:
        code = _STATUS_CODES.get(status) or (code_hint if status == 404 else None)
        if code:
            errors = (ErrorDetail(code, DEFAULT_MESSAGES.get(code, "")),)
    text = body[:_MAX_TEXT].decode("utf-8", "replace").strip() if not errors else ""
    err = error_class(status)(status, errors, repository=repository, reference=reference,
                              method=method, url=url, text=text)
    if isinstance(err, TooManyRequests) and headers is not None:
        err.retry_after = parse_retry_after(headers.get("Retry-After"))
    return err
