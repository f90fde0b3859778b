"""Volume names as Docker's local driver accepts them."""

from __future__ import annotations

import re
import secrets

from .errors import InvalidParameter

RESTRICTED_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_PATTERN = re.compile(f"^{RESTRICTED_CHARS}+$")
ANONYMOUS_LABEL = "com.docker.volume.anonymous"


def validate(name: str) -> None:
    """moby's local.Root.validateName, wrapped as its create wraps it."""
    if len(name) == 1:
        raise InvalidParameter(
            f"create {name}: volume name is too short, names should be at least two "
            "alphanumeric characters")
    if not _PATTERN.match(name):
        raise InvalidParameter(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            f'only "{RESTRICTED_CHARS}" are allowed. If you intended to pass a host '
            "directory, use absolute path")


def anonymous() -> str:
    return secrets.token_hex(32)


def is_anonymous(labels: dict[str, str] | None) -> bool:
    return ANONYMOUS_LABEL in (labels or {})
