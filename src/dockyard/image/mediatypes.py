"""Media types of OCI Image Spec 1.1 and Docker Image Manifest v2 schema 2.

Sources: ``opencontainers/image-spec:media-types.md`` and
``distribution/distribution:docs/content/spec/manifest-v2-2.md`` (see
``shared/reference/images-registry-compose.md`` §3.1). OCI gzip layers and Docker
``rootfs.diff.tar.gzip`` layers are the same bytes; an OCI index is a Docker manifest
list with annotations and urls added.
"""

from __future__ import annotations

# --- OCI ---------------------------------------------------------------------------
OCI_DESCRIPTOR = "application/vnd.oci.descriptor.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
# deprecated by image-spec 1.1, still to be read
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

# --- Docker v2 schema 2 --------------------------------------------------------------
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"
# not in the schema 2 document, but written by docker save / containerd and accepted by them
DOCKER_LAYER_UNCOMPRESSED = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_FOREIGN_UNCOMPRESSED = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"

# --- Docker v2 schema 1 (refused) ----------------------------------------------------
DOCKER_SCHEMA1_MANIFEST = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED_MANIFEST = "application/vnd.docker.distribution.manifest.v1+prettyjws"

#: Manifest kinds, by media type.
IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = IMAGE_MANIFEST_TYPES | INDEX_TYPES
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED_MANIFEST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})

#: The ``Accept`` list a puller sends, most preferred first (as containerd and Docker do).
ACCEPT_MANIFESTS: tuple[str, ...] = (
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
)

# layer media type -> compression ("" = uncompressed tar)
_LAYER_COMPRESSION: dict[str, str] = {
    OCI_LAYER: "",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDISTRIBUTABLE: "",
    OCI_LAYER_NONDISTRIBUTABLE_GZIP: "gzip",
    OCI_LAYER_NONDISTRIBUTABLE_ZSTD: "zstd",
    DOCKER_LAYER: "gzip",
    DOCKER_LAYER_FOREIGN: "gzip",
    DOCKER_LAYER_UNCOMPRESSED: "",
    DOCKER_LAYER_FOREIGN_UNCOMPRESSED: "",
    DOCKER_LAYER_ZSTD: "zstd",
}
LAYER_TYPES = frozenset(_LAYER_COMPRESSION)
FOREIGN_LAYER_TYPES = frozenset(
    {
        OCI_LAYER_NONDISTRIBUTABLE,
        OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
        DOCKER_LAYER_FOREIGN,
        DOCKER_LAYER_FOREIGN_UNCOMPRESSED,
    }
)

#: Layer media type to write for a compression, per manifest flavour.
_OCI_LAYER_FOR = {"": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}
_DOCKER_LAYER_FOR = {"": DOCKER_LAYER_UNCOMPRESSED, "gzip": DOCKER_LAYER, "zstd": OCI_LAYER_ZSTD}


class UnsupportedMediaType(ValueError):
    """A media type dockyard does not handle in this position; ``media_type`` names it."""

    def __init__(self, media_type: str, what: str = "media type", detail: str = "") -> None:
        self.media_type = media_type
        msg = f"unsupported {what}: {media_type!r}" if media_type else f"unsupported {what}"
        super().__init__(f"{msg}: {detail}" if detail else msg)


def base_type(content_type: str) -> str:
    """``Content-Type`` without parameters or case: ``"A/B; charset=utf-8"`` -> ``"a/b"``."""
    return content_type.split(";", 1)[0].strip().lower()


def is_index(media_type: str) -> bool:
    return media_type in INDEX_TYPES


def is_image_manifest(media_type: str) -> bool:
    return media_type in IMAGE_MANIFEST_TYPES


def is_manifest(media_type: str) -> bool:
    """An image manifest or an index / manifest list."""
    return media_type in MANIFEST_TYPES


def is_config(media_type: str) -> bool:
    return media_type in CONFIG_TYPES


def is_layer(media_type: str) -> bool:
    return media_type in _LAYER_COMPRESSION


def is_foreign_layer(media_type: str) -> bool:
    """Non-distributable (OCI) or foreign (Docker) layer: pushers skip it, pullers may use urls."""
    return media_type in FOREIGN_LAYER_TYPES


def layer_compression(media_type: str) -> str:
    """``"gzip"``, ``"zstd"`` or ``""`` (plain tar) for a layer media type.

    Raises :class:`UnsupportedMediaType` for anything that is not a known layer type
    (an encrypted layer, a Helm chart, a typo).
    """
    try:
        return _LAYER_COMPRESSION[media_type]
    except KeyError:
        raise UnsupportedMediaType(media_type, "layer media type") from None


def layer_media_type(compression: str, *, docker: bool = False) -> str:
    """The layer media type to write for ``compression`` ("", "gzip", "zstd").

    ``docker=True`` picks the Docker schema 2 names; zstd has no Docker name that
    Docker itself reads, so the OCI one is used there too (as ``docker push`` does).
    """
    table = _DOCKER_LAYER_FOR if docker else _OCI_LAYER_FOR
    try:
        return table[compression]
    except KeyError:
        raise ValueError(f"unknown layer compression {compression!r}") from None
