"""Digest strings (``algorithm:hex``) as the distribution API uses them."""

from __future__ import annotations

import hashlib
import re

_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


def is_digest(value: str) -> bool:
    return bool(_DIGEST.match(value))


def check_digest(value: str) -> str:
    if not is_digest(value):
        raise ValueError(f"invalid digest {value!r}")
    return value


def algorithm_of(value: str) -> str:
    return check_digest(value).partition(":")[0]


def compute_digest(data: bytes, algorithm: str = "sha256") -> str:
    try:
        hasher = ALGORITHMS[algorithm]
    except KeyError:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}") from None
    return f"{algorithm}:{hasher(data).hexdigest()}"
