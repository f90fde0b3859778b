"""URL handling the API needs: upload ``Location`` headers, ``Link`` pagination, paths.

An upload ``Location`` may be absolute or relative and may carry query parameters the
registry needs back (distribution's signed ``_state``). The query is kept byte for byte:
decoding and re-encoding it could turn ``%2B`` into ``+`` (a space to Go).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from yarl import URL

from .digest import is_digest

# distribution-spec: repository name grammar; tags.
_NAME = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')


def check_repository(name: str) -> str:
    if len(name) > 255 or not _NAME.match(name):
        raise ValueError(f"invalid repository name {name!r}")
    return name


def check_reference(reference: str) -> str:
    """A tag or a digest."""
    if not (_TAG.match(reference) or is_digest(reference)):
        raise ValueError(f"invalid reference {reference!r}: not a tag or a digest")
    return reference


def resolve_location(base: URL, location: str) -> URL:
    """``location`` (absolute or relative to ``base``) with its query kept as sent."""
    return base.join(URL(location, encoded=True))


def add_query(url: URL, **params: str) -> URL:
    """``url`` with ``params`` appended to its raw query, the existing ones untouched."""
    extra = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    query = f"{url.raw_query_string}&{extra}" if url.raw_query_string else extra
    return URL.build(scheme=url.scheme, authority=url.raw_authority, path=url.raw_path,
                     query_string=query, encoded=True)


def next_link(header: str | None, base: URL) -> URL | None:
    """The ``rel="next"`` target of an RFC 8288 ``Link`` header, resolved against ``base``."""
    if not header:
        return None
    for target, params in _LINK.findall(header):
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "rel" and "next" in value.strip().strip('"').split():
                return resolve_location(base, target.strip())
    return None
