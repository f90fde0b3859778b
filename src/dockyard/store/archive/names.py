"""Tar entry names: where inside the root an entry lands, and what its whiteouts mean.

Pure functions. A name is cleaned lexically the way Go's ``filepath.Clean`` would,
before any filesystem lookup: a leading ``/`` makes the name relative to the root
(``/../x`` is ``x``, as Docker applies it); a relative name that climbs above the
root (``../x``, ``a/../../x``) is refused.

Whiteouts (OCI image-spec ``layer.md``): ``.wh.<name>`` deletes ``<name>`` of the
lower layers; ``.wh..wh..opq`` hides every lower child of its directory. Other
``.wh..wh.*`` names are aufs bookkeeping (hard link dirs) and are skipped.
"""

from __future__ import annotations

import enum

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"


class EscapesRoot(ValueError):
    pass


class Kind(enum.Enum):
    PLAIN = "plain"
    WHITEOUT = "whiteout"  # delete parts[:-1] + (target,)
    OPAQUE = "opaque"  # hide the lower children of parts[:-1]
    META = "meta"  # aufs metadata: ignore


def clean(name: str) -> tuple[str, ...]:
    """The components of ``name`` inside the root; () is the root itself."""
    absolute = name.startswith("/")
    parts: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp != "..":
            parts.append(comp)
        elif parts:
            parts.pop()
        elif not absolute:
            raise EscapesRoot(name)
    return tuple(parts)


def classify(parts: tuple[str, ...]) -> tuple[Kind, str]:
    """What a cleaned entry name means, and for a whiteout the name it deletes."""
    if not parts:
        return Kind.PLAIN, ""
    base = parts[-1]
    if base == WHITEOUT_OPAQUE:
        return Kind.OPAQUE, ""
    if any(p.startswith(WHITEOUT_META_PREFIX) for p in parts):
        return Kind.META, ""
    if base.startswith(WHITEOUT_PREFIX):
        target = base[len(WHITEOUT_PREFIX):]
        if target in ("", ".", ".."):
            raise ValueError(f"invalid whiteout {base!r}")
        return Kind.WHITEOUT, target
    return Kind.PLAIN, ""


def whiteout_name(name: str) -> str:
    return WHITEOUT_PREFIX + name
