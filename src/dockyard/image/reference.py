"""Image references, parsed and normalised exactly as Docker does.

Theory of operation
-------------------
The grammar is distribution/reference's (v0.6, the version Docker 26-28 use)::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain "/"] remote-name
    domain           := host [":" port]
    host             := domain-name | IPv4 | "[" IPv6 "]"
    domain-name      := component ("." component)*
    component        := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
    remote-name      := path-component ("/" path-component)*
    path-component   := [a-z0-9]+ (separator [a-z0-9]+)*   separator: [._] | "__" | "-"+
    tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest           := algorithm ":" hex{32,}     (then checked: sha256 = 64 hex, ...)

*Normalising* (``ParseNormalizedNamed``) turns what a user types into a full name:

1. a 64-hex string is refused (it is an image ID, not a name);
2. the first ``/``-separated component is a registry (domain) only if it is
   ``localhost``, contains ``.`` or ``:``, or contains an uppercase letter (a
   repository component never may); otherwise the domain is ``docker.io``;
3. ``index.docker.io`` becomes ``docker.io``; a single-component path on
   ``docker.io`` gets ``library/`` (``busybox`` -> ``docker.io/library/busybox``);
4. the repository path must be lowercase (Docker's message names the path, e.g.
   ``invalid reference format: repository name (library/Busybox) must be lowercase``);
5. the path (without the domain) is at most 255 characters (v0.6 excludes the domain);
6. :func:`parse_reference` then adds ``:latest`` when there is neither tag nor digest.

The *familiar* form reverses 3: ``docker.io/library/busybox:latest`` -> ``busybox:latest``.
A bare ``localhost`` or ``example.com`` without a ``/`` is a repository on Docker Hub,
as in Docker (``localhost:5000`` alone is ``docker.io/library/localhost`` tag ``5000``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.image.manifest import InvalidDigest, validate_digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
#: longest repository path (without the domain), as distribution/reference v0.6
NAME_TOTAL_LENGTH_MAX = 255
#: longest input we try to parse; the grammar allows more only through absurd domains
_MAX_INPUT = 4096

# Go's regexp classes spelled out: Python's \w is Unicode-aware, Go's is ASCII.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_REMOTE_NAME}"

_REFERENCE_RE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?")
_ANCHORED_NAME_RE = re.compile(rf"(?:({_DOMAIN})/)?({_REMOTE_NAME})")
_TAG_RE = re.compile(_TAG)
_DIGEST_RE = re.compile(_DIGEST)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")
_DOMAIN_RE = re.compile(_DOMAIN)


class InvalidReference(ValueError):
    """A reference Docker would refuse; the message is Docker's."""


ERR_INVALID_FORMAT = "invalid reference format"
ERR_NAME_EMPTY = "repository name must have at least one component"
ERR_NAME_UPPERCASE = "repository name must be lowercase"
ERR_NAME_TOO_LONG = f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
ERR_TAG_FORMAT = "invalid tag format"
ERR_DIGEST_FORMAT = "invalid digest format"


@dataclass(frozen=True)
class Reference:
    """A named reference: ``domain/path[:tag][@digest]``.

    ``domain`` is empty only for references made by :func:`parse_raw` from names
    without a registry; everything from :func:`parse_reference` is fully qualified.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``domain/path`` (the repository, without tag or digest)."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        s = self.name
        if self.tag is not None:
            s += ":" + self.tag
        if self.digest is not None:
            s += "@" + self.digest
        return s

    @property
    def familiar_name(self) -> str:
        """The name as Docker shows it.

        ``docker.io/library/x`` -> ``x``; ``docker.io/u/x`` -> ``u/x``; others unchanged.
        """
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_REPO_PREFIX):
            rest = path[len(OFFICIAL_REPO_PREFIX) :]
            if "/" not in rest:
                path = rest
        return path

    def familiar(self) -> str:
        """``FamiliarString``: the short form, with tag and digest."""
        s = self.familiar_name
        if self.tag is not None:
            s += ":" + self.tag
        if self.digest is not None:
            s += "@" + self.digest
        return s

    def with_tag(self, tag: str) -> Reference:
        """This name with ``tag`` (a digest, if any, is kept, as Go's ``WithTag``)."""
        if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
            raise InvalidReference(ERR_TAG_FORMAT)
        return Reference(self.domain, self.path, tag, self.digest)

    def with_digest(self, digest: str) -> Reference:
        if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
            raise InvalidReference(ERR_DIGEST_FORMAT)
        try:
            validate_digest(digest)
        except InvalidDigest as e:
            raise InvalidReference(str(e)) from None
        return Reference(self.domain, self.path, self.tag, digest)

    def trimmed(self) -> Reference:
        """The repository alone (``TrimNamed``)."""
        return Reference(self.domain, self.path)

    def docker_ref(self) -> Reference:
        """``ParseDockerRef``: digest wins over tag; a bare name gets ``latest``."""
        if self.digest is not None:
            return Reference(self.domain, self.path, None, self.digest)
        if self.tag is None:
            return Reference(self.domain, self.path, DEFAULT_TAG)
        return self

    @property
    def registry(self) -> str:
        """The host to contact: Docker Hub's API lives at ``registry-1.docker.io``."""
        return "registry-1.docker.io" if self.domain == DEFAULT_DOMAIN else self.domain


def _check_input(s: object) -> str:
    if not isinstance(s, str):
        raise InvalidReference(ERR_INVALID_FORMAT)
    if len(s) > _MAX_INPUT:
        raise InvalidReference(ERR_INVALID_FORMAT)
    return s


def parse_raw(s: str) -> Reference:
    """distribution's ``Parse``: the grammar only, no normalisation (domain may be empty).

    Raises :class:`InvalidReference` with ``repository name must have at least one
    component`` (empty), ``repository name must be lowercase``, ``repository name must
    not be more than 255 characters``, ``invalid reference format``, or a digest error
    (``invalid checksum digest length``, ``unsupported digest algorithm``, ...).
    """
    s = _check_input(s)
    if s == "":
        raise InvalidReference(ERR_NAME_EMPTY)
    m = _REFERENCE_RE.fullmatch(s)
    if m is None:
        lower = s.lower()
        if lower != s and _REFERENCE_RE.fullmatch(lower):
            raise InvalidReference(ERR_NAME_UPPERCASE)
        raise InvalidReference(ERR_INVALID_FORMAT)
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    nm = _ANCHORED_NAME_RE.fullmatch(name)
    domain, path = (nm.group(1) or "", nm.group(2)) if nm else ("", name)
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(ERR_NAME_TOO_LONG)
    if digest is not None:
        try:
            validate_digest(digest)
        except InvalidDigest as e:
            raise InvalidReference(str(e)) from None
    return Reference(domain, path, tag, digest)


def split_docker_domain(name: str) -> tuple[str, str]:
    """Split what the user typed into (domain, remainder), applying Docker Hub defaults."""
    maybe_domain, slash, maybe_remote = name.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == "localhost":
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif "." in maybe_domain or ":" in maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain.lower() != maybe_domain:
        # a repository component is never uppercase, so this must be a host name
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def parse_normalized_named(s: str) -> Reference:
    """``ParseNormalizedNamed``: normalise without adding a default tag."""
    s = _check_input(s)
    if _IDENTIFIER_RE.fullmatch(s):
        raise InvalidReference(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = split_docker_domain(s)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidReference(
            f"{ERR_INVALID_FORMAT}: repository name ({remote}) must be lowercase"
        )
    return parse_raw(domain + "/" + remainder)


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise a reference as ``docker pull``/``run``/``tag`` do.

    ``busybox`` -> ``docker.io/library/busybox:latest``. A reference with both tag and
    digest keeps both (use :meth:`Reference.docker_ref` to drop the tag for a pull).
    With ``default_tag=False`` a bare name stays without a tag.
    """
    ref = parse_normalized_named(text)
    if default_tag and ref.tag is None and ref.digest is None:
        ref = Reference(ref.domain, ref.path, DEFAULT_TAG)
    return ref


def parse_any(text: str) -> Reference | str:
    """``ParseAnyReference``: a 64-hex ID or a full digest gives the digest string
    (``sha256:<hex>``); anything else is parsed as a name (without a default tag)."""
    text = _check_input(text)
    if _IDENTIFIER_RE.fullmatch(text):
        return "sha256:" + text
    try:
        return validate_digest(text)
    except InvalidDigest:
        pass
    return parse_normalized_named(text)


def parse_named(text: str) -> Reference:
    """``ParseNamed``: the text must already be the full canonical form."""
    ref = parse_normalized_named(text)
    if str(ref) != text:
        raise InvalidReference("repository name must be canonical")
    return ref


def validate_tag(tag: str) -> str:
    if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
        raise InvalidReference(ERR_TAG_FORMAT)
    return tag


def is_valid_domain(domain: str) -> bool:
    """True for a registry host as the grammar allows (``host[:port]``)."""
    return isinstance(domain, str) and _DOMAIN_RE.fullmatch(domain) is not None


def familiar_string(text_or_ref: str | Reference) -> str:
    """The short form of a reference (parsing it first if given as text)."""
    ref = text_or_ref if isinstance(text_or_ref, Reference) else parse_normalized_named(text_or_ref)
    return ref.familiar()
