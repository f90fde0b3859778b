"""`docker save` and `docker load` archives.

Save writes Docker 25's layout: an OCI image layout (blobs/sha256/..., index.json,
oci-layout) whose layers are the uncompressed tars named by diff ID, plus Docker's
manifest.json and repositories, so that both `docker load` and OCI tools read it.
Load accepts that, older Docker archives that have manifest.json, and plain OCI
layouts (index.json only); layer files may be compressed or not. The archive is
untrusted: it is unpacked with the safe layer extractor into a scratch directory,
and every path named inside it must stay inside that directory.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from ..store.archive.codecs import decompressing_reader, sniff
from ..store.archive.extract import extract_layer
from . import mediatypes as mt
from .config import parse_image_config
from .local import add_layer, register_image
from .manifest import Descriptor, ImageIndex, build_image_manifest, parse_manifest
from .reference import parse_reference
from .store import ImageStore

COPY_CHUNK = 1 << 20


class ArchiveFormatError(ValueError):
    """The archive is not a Docker or OCI image archive, or names paths outside itself."""


# --- save ----------------------------------------------------------------------------


def save(store: ImageStore, names: Iterable[str], out: BinaryIO) -> None:
    selected: dict[str, list[str]] = {}  # image ID -> familiar tags asked for
    for name in names:
        image = store.resolve(name)
        tags = selected.setdefault(image.id, [])
        if not _is_id(name, image.id):
            tags.append(parse_reference(name).familiar())
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        written: set[str] = set()
        manifest_json = []
        index_entries = []
        repositories: dict[str, dict[str, str]] = {}
        for image_id, tags in selected.items():
            image = store.meta.get_image(image_id)
            config = store.config_of(image)
            _add_bytes(tar, f"blobs/sha256/{_hex(image.id)}", store.read_blob(image.id), written)
            stored = store.manifest_of(image)
            layers = []
            for desc, diff_id, chain in zip(stored.layers, config.diff_ids, image.chain_ids,
                                            strict=True):
                size = _add_layer_tar(tar, store, desc, diff_id, chain, written)
                layers.append(Descriptor(mt.OCI_LAYER, diff_id, size))
            manifest = build_image_manifest(
                Descriptor(mt.OCI_CONFIG, image.id, len(store.read_blob(image.id))), layers)
            _add_bytes(tar, f"blobs/sha256/{_hex(manifest.digest)}", manifest.raw, written)
            manifest_json.append({
                "Config": f"blobs/sha256/{_hex(image.id)}",
                "RepoTags": tags or None,
                "Layers": [f"blobs/sha256/{_hex(d)}" for d in config.diff_ids],
            })
            for tag in tags or [None]:
                annotations = {}
                if tag:
                    ref = parse_reference(tag)
                    annotations = {"io.containerd.image.name": str(ref),
                                   "org.opencontainers.image.ref.name": ref.tag or "latest"}
                    # The top layer's chain ID stands in for Docker's v1 layer ID.
                    repositories.setdefault(ref.familiar_name, {})[ref.tag or "latest"] = \
                        _hex(image.chain_ids[-1]) if image.diff_ids else _hex(image.id)
                index_entries.append(Descriptor(manifest.media_type, manifest.digest,
                                                manifest.size, annotations=annotations)
                                     .to_json())
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": index_entries}
        _add_bytes(tar, "index.json", json.dumps(index).encode(), written)
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}', written)
        _add_bytes(tar, "manifest.json", json.dumps(manifest_json).encode(), written)
        if repositories:
            _add_bytes(tar, "repositories", json.dumps(repositories).encode(), written)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, written: set[str]) -> None:
    if name in written:
        return
    _ensure_dirs(tar, name, written)
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
    written.add(name)


def _ensure_dirs(tar: tarfile.TarFile, name: str, written: set[str]) -> None:
    parts = name.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        directory = "/".join(parts[:depth]) + "/"
        if directory not in written:
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
            written.add(directory)


def _add_layer_tar(tar: tarfile.TarFile, store: ImageStore, desc: Descriptor, diff_id: str,
                   chain: str, written: set[str]) -> int:
    """The layer uncompressed, streamed; its size is known from when it was unpacked."""
    name = f"blobs/sha256/{_hex(diff_id)}"
    layer = store.meta.get_layer(chain)
    if layer is None:
        raise ArchiveFormatError(f"layer {diff_id} is not unpacked in this store")
    if name in written:
        return layer.size
    _ensure_dirs(tar, name, written)
    info = tarfile.TarInfo(name)
    info.size = layer.size
    info.mode = 0o644
    with store.content.open(desc.digest) as raw:
        codec, sniffed = sniff(raw)
        tar.addfile(info, decompressing_reader(sniffed, codec))
    written.add(name)
    return layer.size


# --- load ----------------------------------------------------------------------------


def load(store: ImageStore, source: BinaryIO) -> list[str]:
    """Load every image in the archive; returns Docker's "Loaded image: ..." names."""
    scratch = Path(tempfile.mkdtemp(prefix="load-", dir=store.root))
    try:
        # The layer extractor refuses '..', absolute names and links out of the target.
        extract_layer(source, scratch, whiteout_format="apply", rootless=True,
                      label="image archive")
        if (scratch / "manifest.json").is_file():
            return _load_docker(store, scratch)
        if (scratch / "index.json").is_file():
            return _load_oci(store, scratch)
        raise ArchiveFormatError("not an image archive: no manifest.json or index.json")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _inside(root: Path, name: object) -> Path:
    if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/"):
        raise ArchiveFormatError(f"image archive names an invalid path {name!r}")
    path = root / name
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(os.path.realpath(root)):
        raise ArchiveFormatError(f"image archive path {name!r} leads outside the archive")
    return real


def _load_docker(store: ImageStore, root: Path) -> list[str]:
    try:
        entries = json.loads((root / "manifest.json").read_bytes())
    except ValueError as err:
        raise ArchiveFormatError(f"manifest.json: {err}") from None
    if not isinstance(entries, list):
        raise ArchiveFormatError("manifest.json: must be a list")
    loaded = []
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("Layers"), list):
            raise ArchiveFormatError(f"manifest.json[{number}]: needs Config and Layers")
        config_path = _inside(root, entry.get("Config"))
        layers = [_inside(root, name) for name in entry["Layers"]]
        tags = [t for t in entry.get("RepoTags") or [] if isinstance(t, str)]
        loaded += _register(store, config_path.read_bytes(), layers, tags)
    return loaded


def _load_oci(store: ImageStore, root: Path) -> list[str]:
    index = parse_manifest((root / "index.json").read_bytes(), mt.OCI_INDEX)
    if not isinstance(index, ImageIndex):
        raise ArchiveFormatError("index.json is not an image index")
    loaded = []
    for desc in index.manifests:
        manifest = parse_manifest(_blob(root, desc.digest).read_bytes(), desc.media_type,
                                  expected_digest=desc.digest)
        if isinstance(manifest, ImageIndex):
            raise ArchiveFormatError(f"nested index {desc.digest} is not supported")
        name = (desc.annotations or {}).get("io.containerd.image.name") or \
            (desc.annotations or {}).get("org.opencontainers.image.ref.name")
        # A bare ref.name annotation ("latest") names no repository: load it untagged.
        tags = [name] if name and (":" in name or "/" in name) else []
        layers = [_blob(root, layer.digest) for layer in manifest.layers]
        loaded += _register(store, _blob(root, manifest.config.digest).read_bytes(), layers,
                            tags)
    return loaded


def _blob(root: Path, digest: str) -> Path:
    algorithm, _, hex_part = digest.partition(":")
    return _inside(root, f"blobs/{algorithm}/{hex_part}")


def _register(store: ImageStore, config_bytes: bytes, layer_files: list[Path],
              tags: list[str]) -> list[str]:
    config = parse_image_config(config_bytes)
    if len(config.diff_ids) != len(layer_files):
        raise ArchiveFormatError(f"image {config.image_id}: {len(layer_files)} layer files for "
                                 f"{len(config.diff_ids)} diff IDs")
    with store.meta.lease(expires=3600) as lease:
        descs = []
        for path, diff_id in zip(layer_files, config.diff_ids, strict=True):
            desc, actual = add_layer(store, lambda out, path=path: _copy_tar(path, out), lease)
            if actual != diff_id:
                raise ArchiveFormatError(f"image {config.image_id}: layer {path.name} has "
                                         f"diff ID {actual}, the config says {diff_id}")
            descs.append(desc)
        image = register_image(store, config, descs, tags, lease)
    if tags:
        return [f"Loaded image: {parse_reference(t).familiar()}" for t in tags]
    return [f"Loaded image ID: {image.id}"]


def _copy_tar(path: Path, out: BinaryIO) -> None:
    with open(path, "rb") as raw:
        codec, sniffed = sniff(raw)
        reader = decompressing_reader(sniffed, codec)
        while chunk := reader.read(COPY_CHUNK):
            out.write(chunk)


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def _is_id(name: str, image_id: str) -> bool:
    bare = name.removeprefix("sha256:")
    return ":" not in bare and "/" not in bare and _hex(image_id).startswith(bare)
