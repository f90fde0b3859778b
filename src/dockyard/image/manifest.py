"""Manifests, indexes and descriptors (OCI Image Spec 1.1, Docker v2 schema 2); digests.

Theory of operation
-------------------
A manifest is identified by the digest of its *exact bytes*; re-serialising a parsed
manifest would change its identity. So :func:`parse_manifest` keeps ``raw`` and every
parsed object answers ``digest`` from those bytes, while :func:`build_image_manifest`
and :func:`build_index` produce new manifests whose bytes are :func:`canonical_json`
(compact, keys sorted, UTF-8), so that the same inputs always give the same digest.

The kind of a document is decided, in order, by

1. its ``mediaType`` field;
2. when that is absent (legal for OCI), the ``Content-Type`` the registry sent
   (parameters ignored; ``application/json`` and ``application/octet-stream`` say
   nothing);
3. when both say nothing, its shape: ``manifests`` -> OCI index, ``config`` ->
   OCI manifest (containerd does the same).

Schema 1 is refused with :class:`Schema1Unsupported`; any other media type with
:class:`UnsupportedMediaType` naming it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard.image import mediatypes as mt
from dockyard.image.mediatypes import UnsupportedMediaType
from dockyard.image.platform import InvalidPlatform, Platform

__all__ = [
    "EMPTY_DESCRIPTOR",
    "MAX_MANIFEST_SIZE",
    "Descriptor",
    "DigestMismatch",
    "ImageIndex",
    "ImageManifest",
    "InvalidDigest",
    "InvalidManifest",
    "Manifest",
    "Schema1Unsupported",
    "UnsupportedMediaType",
    "build_image_manifest",
    "build_index",
    "canonical_json",
    "compute_digest",
    "detect_media_type",
    "digest_algorithm",
    "digest_hex",
    "parse_descriptor",
    "parse_manifest",
    "sha256_digest",
    "validate_digest",
    "verify_digest",
]

# --- digests ------------------------------------------------------------------------


class InvalidDigest(ValueError):
    """A malformed or unsupported digest. Messages are go-digest's (what Docker prints)."""


#: algorithm -> length of its hex encoding; sha384 is accepted as go-digest does.
DIGEST_ALGORITHMS: dict[str, int] = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST_GRAMMAR = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_LOWER_HEX = re.compile(r"[a-f0-9]+")


def validate_digest(digest: str) -> str:
    """Check ``algorithm:hex`` (sha256/sha384/sha512, lowercase hex of the right length).

    Returns the digest unchanged. Errors: ``invalid checksum digest format``,
    ``invalid checksum digest length``, ``unsupported digest algorithm``.
    """
    if not isinstance(digest, str):
        raise InvalidDigest("invalid checksum digest format")
    i = digest.find(":")
    if i <= 0 or i + 1 == len(digest):
        raise InvalidDigest("invalid checksum digest format")
    algorithm, encoded = digest[:i], digest[i + 1 :]
    size = DIGEST_ALGORITHMS.get(algorithm)
    if size is None:
        if not _DIGEST_GRAMMAR.fullmatch(digest):
            raise InvalidDigest("invalid checksum digest format")
        raise InvalidDigest("unsupported digest algorithm")
    if len(encoded) != size:
        raise InvalidDigest("invalid checksum digest length")
    if not _LOWER_HEX.fullmatch(encoded):
        raise InvalidDigest("invalid checksum digest format")
    return digest


def is_digest(text: str) -> bool:
    try:
        validate_digest(text)
    except InvalidDigest:
        return False
    return True


def digest_algorithm(digest: str) -> str:
    return validate_digest(digest).split(":", 1)[0]


def digest_hex(digest: str) -> str:
    """The encoded part: ``sha256:abc..`` -> ``abc..`` (the blob's file name)."""
    return validate_digest(digest).split(":", 1)[1]


def compute_digest(data: bytes, algorithm: str = "sha256") -> str:
    if algorithm not in DIGEST_ALGORITHMS:
        raise InvalidDigest("unsupported digest algorithm")
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def sha256_digest(data: bytes) -> str:
    """``sha256:`` + hex of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class DigestMismatch(ValueError):
    def __init__(self, expected: str, actual: str, what: str = "content") -> None:
        self.expected, self.actual = expected, actual
        super().__init__(f"{what} digest mismatch: expected {expected}, got {actual}")


def verify_digest(data: bytes, expected: str, what: str = "content") -> None:
    """Raise :class:`DigestMismatch` unless ``data`` hashes to ``expected`` (any algorithm)."""
    actual = compute_digest(data, digest_algorithm(expected))
    if actual != expected:
        raise DigestMismatch(expected, actual, what)


# --- canonical JSON -----------------------------------------------------------------


def canonical_json(obj: Any) -> bytes:
    """Deterministic bytes: compact separators, sorted keys, UTF-8 (no ``\\u`` escapes).

    Used for everything dockyard *creates* (manifests, indexes, image configs);
    content that was received is kept byte for byte instead.
    """
    try:
        text = json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError) as e:
        raise ValueError(f"cannot serialise to canonical JSON: {e}") from None


# --- errors -------------------------------------------------------------------------


class InvalidManifest(ValueError):
    """A manifest or index that is not well formed; the message says which field."""


class Schema1Unsupported(UnsupportedMediaType):
    def __init__(self, media_type: str) -> None:
        super().__init__(
            media_type or mt.DOCKER_SCHEMA1_SIGNED_MANIFEST,
            "manifest format",
            "Docker Image manifest version 2, schema 1 is deprecated and not supported; "
            "ask the image's publisher to push it as OCI or Docker schema 2",
        )


#: Registries must accept at least 4 MB manifests (distribution-spec); we read no more.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024


# --- descriptors --------------------------------------------------------------------

_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a blob or manifest is, where it is (digest), how big."""

    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    platform: Platform | None = None
    artifact_type: str = ""
    data: bytes | None = field(default=None, hash=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["digest"] = self.digest
        out["size"] = self.size
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.data is not None:
            out["data"] = base64.b64encode(self.data).decode("ascii")
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out

    @classmethod
    def for_bytes(cls, media_type: str, data: bytes, **kw: Any) -> Descriptor:
        """Describe ``data`` (sha256), e.g. a config blob about to be pushed."""
        return cls(media_type, sha256_digest(data), len(data), **kw)


def json_type_name(obj: object) -> str:
    """How JSON calls the type of a decoded value, for error messages."""
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", int: "number", float: "number"}.get(
        type(obj), type(obj).__name__
    )


def _expect(cond: bool, where: str, what: str, got: object) -> None:
    if not cond:
        raise InvalidManifest(f"{where}: {what}, got {json_type_name(got)}")


def _string_map(obj: object, where: str) -> dict[str, str]:
    if obj is None:
        return {}
    _expect(isinstance(obj, dict), where, "expected an object", obj)
    assert isinstance(obj, dict)
    for k, v in obj.items():
        _expect(isinstance(v, str), f"{where}[{k!r}]", "expected a string", v)
    return dict(obj)


def parse_descriptor(obj: object, where: str = "descriptor") -> Descriptor:
    """Validate one descriptor object (field types, digest, size, embedded data)."""
    _expect(isinstance(obj, dict), where, "expected an object", obj)
    assert isinstance(obj, dict)
    media_type = obj.get("mediaType")
    _expect(
        isinstance(media_type, str) and bool(media_type),
        f"{where}.mediaType",
        "expected a non-empty string",
        media_type,
    )
    assert isinstance(media_type, str)
    if not _MEDIA_TYPE.fullmatch(media_type):
        raise InvalidManifest(f"{where}.mediaType: invalid media type {media_type!r}")
    digest = obj.get("digest")
    _expect(isinstance(digest, str), f"{where}.digest", "expected a string", digest)
    assert isinstance(digest, str)
    try:
        validate_digest(digest)
    except InvalidDigest as e:
        raise InvalidManifest(f"{where}.digest: {e}: {digest!r}") from None
    size = obj.get("size")
    _expect(
        isinstance(size, int) and not isinstance(size, bool),
        f"{where}.size",
        "expected an integer",
        size,
    )
    assert isinstance(size, int)
    if size < 0:
        raise InvalidManifest(f"{where}.size: must not be negative ({size})")
    urls_obj = obj.get("urls")
    urls: tuple[str, ...] = ()
    if urls_obj is not None:
        _expect(
            isinstance(urls_obj, list) and all(isinstance(u, str) for u in urls_obj),
            f"{where}.urls",
            "expected an array of strings",
            urls_obj,
        )
        urls = tuple(urls_obj)
    annotations = _string_map(obj.get("annotations"), f"{where}.annotations")
    platform = None
    if obj.get("platform") is not None:
        try:
            platform = Platform.from_json(obj["platform"], f"{where}.platform")
        except InvalidPlatform as e:
            raise InvalidManifest(str(e)) from None
    artifact_type = obj.get("artifactType", "")
    _expect(
        isinstance(artifact_type, str), f"{where}.artifactType", "expected a string", artifact_type
    )
    data = None
    if obj.get("data") is not None:
        raw_data = obj["data"]
        _expect(isinstance(raw_data, str), f"{where}.data", "expected a base64 string", raw_data)
        try:
            data = base64.b64decode(raw_data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidManifest(f"{where}.data: invalid base64") from None
        if len(data) != size:
            raise InvalidManifest(f"{where}.data: {len(data)} bytes but size is {size}")
        try:
            verify_digest(data, digest, f"{where}.data")
        except DigestMismatch as e:
            raise InvalidManifest(str(e)) from None
    return Descriptor(media_type, digest, size, urls, annotations, platform, artifact_type, data)


#: The OCI empty descriptor (``{}``), for artifacts and tests.
EMPTY_DESCRIPTOR = Descriptor(
    mt.OCI_EMPTY,
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    2,
)


# --- manifests and indexes ----------------------------------------------------------


class _Stored:
    """A document known by its exact bytes: its digest and size are theirs."""

    raw: bytes

    @property
    def digest(self) -> str:
        """sha256 of the exact bytes (what registries and ``RepoDigests`` use)."""
        return sha256_digest(self.raw)

    @property
    def size(self) -> int:
        return len(self.raw)


@dataclass(frozen=True)
class ImageManifest(_Stored):
    """An OCI image manifest or a Docker v2 schema 2 manifest (``media_type`` says which)."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    subject: Descriptor | None = None
    artifact_type: str = ""
    raw: bytes = field(default=b"", repr=False)

    @property
    def is_docker(self) -> bool:
        return self.media_type == mt.DOCKER_MANIFEST

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        """A descriptor pointing at this manifest (for an index or a tag)."""
        return Descriptor(
            self.media_type,
            self.digest,
            self.size,
            platform=platform,
            artifact_type=self.artifact_type,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["config"] = self.config.to_json()
        out["layers"] = [d.to_json() for d in self.layers]
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class ImageIndex(_Stored):
    """An OCI image index or a Docker manifest list."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    subject: Descriptor | None = None
    artifact_type: str = ""
    raw: bytes = field(default=b"", repr=False)

    @property
    def is_docker(self) -> bool:
        return self.media_type == mt.DOCKER_MANIFEST_LIST

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size, artifact_type=self.artifact_type)

    def platforms(self) -> list[Platform]:
        return [d.platform for d in self.manifests if d.platform is not None]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["manifests"] = [d.to_json() for d in self.manifests]
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


Manifest = ImageManifest | ImageIndex

_GENERIC_CONTENT_TYPES = frozenset(
    {"", "application/json", "application/octet-stream", "text/plain", "binary/octet-stream"}
)


def detect_media_type(doc: Mapping[str, Any], content_type: str | None = None) -> str:
    """The media type of a decoded manifest document (see the module docstring)."""
    field_type = doc.get("mediaType")
    if field_type is not None:
        if not isinstance(field_type, str):
            raise InvalidManifest(
                f"mediaType: expected a string, got {json_type_name(field_type)}")
        if field_type:
            return field_type
    if content_type:
        ct = mt.base_type(content_type)
        if ct not in _GENERIC_CONTENT_TYPES:
            return ct
    version = doc.get("schemaVersion")
    if (type(version) is int and version == 1) or "fsLayers" in doc or "signatures" in doc:
        return mt.DOCKER_SCHEMA1_MANIFEST
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "config" in doc or "layers" in doc:
        return mt.OCI_MANIFEST
    raise InvalidManifest(
        "cannot tell the manifest's media type: no mediaType field, no "
        "Content-Type, and neither 'manifests' nor 'config' present"
    )


def _decode(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_MANIFEST_SIZE:
        raise InvalidManifest(
            f"manifest is {len(data)} bytes, over the limit of {MAX_MANIFEST_SIZE}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidManifest("manifest is not UTF-8") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidManifest(f"manifest is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidManifest(f"manifest must be a JSON object, got {json_type_name(doc)}")
    return doc


def parse_manifest(
    data: bytes,
    content_type: str | None = None,
    *,
    expected_digest: str | None = None,
) -> ImageManifest | ImageIndex:
    """Parse and validate a manifest or index from its exact bytes.

    ``content_type`` is the HTTP ``Content-Type`` (used only when the document has no
    ``mediaType``). With ``expected_digest`` (a pull by digest, a blob named by its
    digest), the bytes are verified first; :class:`DigestMismatch` if they differ.
    """
    data = bytes(data)
    if expected_digest is not None:
        verify_digest(data, expected_digest, "manifest")
    doc = _decode(data)
    media_type = detect_media_type(doc, content_type)
    if media_type in mt.SCHEMA1_TYPES:
        raise Schema1Unsupported(media_type)
    if media_type not in mt.MANIFEST_TYPES:
        raise UnsupportedMediaType(media_type, "manifest media type")
    version = doc.get("schemaVersion")
    if version != 2 or isinstance(version, bool):
        raise InvalidManifest(f"schemaVersion: expected 2, got {version!r}")
    annotations = _string_map(doc.get("annotations"), "annotations")
    artifact_type = doc.get("artifactType", "")
    _expect(isinstance(artifact_type, str), "artifactType", "expected a string", artifact_type)
    subject = None
    if doc.get("subject") is not None:
        subject = parse_descriptor(doc["subject"], "subject")
    if media_type in mt.INDEX_TYPES:
        if "config" in doc or "layers" in doc:
            raise InvalidManifest(f"{media_type} must not have 'config' or 'layers'")
        entries = doc.get("manifests")
        _expect(isinstance(entries, list), "manifests", "expected an array", entries)
        assert isinstance(entries, list)
        manifests = tuple(parse_descriptor(d, f"manifests[{i}]") for i, d in enumerate(entries))
        return ImageIndex(media_type, manifests, annotations, subject, artifact_type, data)
    if "manifests" in doc:
        raise InvalidManifest(f"{media_type} must not have 'manifests'")
    if doc.get("config") is None:
        raise InvalidManifest("config: required")
    config = parse_descriptor(doc["config"], "config")
    layer_objs = doc.get("layers")
    _expect(isinstance(layer_objs, list), "layers", "expected an array", layer_objs)
    assert isinstance(layer_objs, list)
    layers = tuple(parse_descriptor(d, f"layers[{i}]") for i, d in enumerate(layer_objs))
    if config.media_type == mt.OCI_EMPTY and not artifact_type:
        raise InvalidManifest("artifactType: required when config is the empty descriptor")
    return ImageManifest(media_type, config, layers, annotations, subject, artifact_type, data)


# --- construction for push ----------------------------------------------------------


def build_image_manifest(
    config: Descriptor,
    layers: Sequence[Descriptor],
    *,
    media_type: str = mt.OCI_MANIFEST,
    annotations: Mapping[str, str] | None = None,
    subject: Descriptor | None = None,
    artifact_type: str = "",
) -> ImageManifest:
    """A new manifest with canonical bytes. ``media_type`` picks OCI or Docker form.

    The Docker form carries no annotations, subject or artifactType (schema 2 has none).
    """
    if media_type not in mt.IMAGE_MANIFEST_TYPES:
        raise UnsupportedMediaType(media_type, "manifest media type")
    if media_type == mt.DOCKER_MANIFEST and (annotations or subject or artifact_type):
        raise ValueError(
            "Docker schema 2 manifests have no annotations, subject or "
            "artifactType; use the OCI form"
        )
    if config.media_type == mt.OCI_EMPTY and not artifact_type:
        raise ValueError("artifactType is required when config is the empty descriptor")
    m = ImageManifest(
        media_type, config, tuple(layers), dict(annotations or {}), subject, artifact_type
    )
    raw = canonical_json(m.to_json())
    return ImageManifest(
        media_type, config, tuple(layers), dict(annotations or {}), subject, artifact_type, raw
    )


def build_index(
    manifests: Iterable[Descriptor],
    *,
    media_type: str = mt.OCI_INDEX,
    annotations: Mapping[str, str] | None = None,
    subject: Descriptor | None = None,
    artifact_type: str = "",
) -> ImageIndex:
    """A new index (OCI) or manifest list (Docker) with canonical bytes."""
    if media_type not in mt.INDEX_TYPES:
        raise UnsupportedMediaType(media_type, "index media type")
    entries = tuple(manifests)
    if media_type == mt.DOCKER_MANIFEST_LIST:
        if annotations or subject or artifact_type:
            raise ValueError(
                "Docker manifest lists have no annotations, subject or "
                "artifactType; use the OCI form"
            )
        for d in entries:
            if d.platform is None:
                raise ValueError(f"Docker manifest list entry {d.digest} needs a platform")
    idx = ImageIndex(media_type, entries, dict(annotations or {}), subject, artifact_type)
    return ImageIndex(
        media_type,
        entries,
        dict(annotations or {}),
        subject,
        artifact_type,
        canonical_json(idx.to_json()),
    )
