"""The image store: images as names pointing at content (containerd's model).

An image is a row (its ID is the config digest) with references (tags and repo
digests) pointing at it; its manifest, config and layer blobs live in the content
store, its layers unpacked as snapshots keyed by chain ID. This module holds the
local operations — resolve, tag, remove, list, inspect, history, GC; pull, push,
save/load and bootstrap build on it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..store.content import ContentStore
from ..store.errors import NotFound
from ..store.gc import collect
from ..store.metadata import ImageRecord, MetadataStore
from ..store.snapshots import Snapshotter, new_snapshotter
from . import mediatypes as mt
from .config import ImageConfig, parse_image_config
from .inspect import inspect_json
from .manifest import ImageIndex, ImageManifest, parse_manifest
from .reference import InvalidReference, parse_reference


class ImageNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such image: {name}")
        self.name = name


class ImageInUse(RuntimeError):
    """Docker's 409 conflict: an image a container uses, or one with several tags."""


class ImageStore:
    def __init__(self, root: str | os.PathLike[str], *, snapshotter: str = "auto") -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.meta = MetadataStore(self.root)
        self.content = ContentStore(self.root, self.meta)
        self.snapshots: Snapshotter = new_snapshotter(self.root, self.meta, snapshotter)

    def close(self) -> None:
        self.meta.close()

    # --- content ------------------------------------------------------------------------

    def read_blob(self, digest: str) -> bytes:
        return self.content.read(digest, verify=True)

    def manifest_of(self, image: ImageRecord) -> ImageManifest:
        """The image manifest for this platform (an index is resolved when pulled)."""
        if image.manifest_digest is None:
            raise ImageNotFound(image.id)
        parsed = parse_manifest(self.read_blob(image.manifest_digest),
                                expected_digest=image.manifest_digest)
        if isinstance(parsed, ImageIndex):
            raise ValueError(f"image {image.id} points at an index, not a manifest")
        return parsed

    def config_of(self, image: ImageRecord) -> ImageConfig:
        return parse_image_config(self.read_blob(image.id))

    def references(self, digest: str) -> list[str]:
        """What a blob refers to, for GC: an index its manifests, a manifest its config
        and layers; anything else nothing."""
        try:
            data = self.content.read(digest)
            parsed = parse_manifest(data)
        except (NotFound, ValueError):
            return []
        if isinstance(parsed, ImageIndex):
            return [d.digest for d in parsed.manifests]
        return [parsed.config.digest, *(layer.digest for layer in parsed.layers)]

    # --- names --------------------------------------------------------------------------

    def resolve(self, name: str) -> ImageRecord:
        """An image by reference (`busybox`, `localhost:5000/x:1`, `x@sha256:..`), by full
        ID, or by an unambiguous ID prefix, as Docker resolves them."""
        try:
            return self.meta.get_image(self.meta.get_ref(normalize(name)))
        except (NotFound, InvalidReference):
            pass
        wanted = name.removeprefix("sha256:")
        if len(wanted) >= 4 and all(ch in "0123456789abcdef" for ch in wanted):
            matches = [i for i in self.meta.images() if i.id.removeprefix("sha256:")
                       .startswith(wanted)]
            if len(matches) == 1:
                return matches[0]
        raise ImageNotFound(name)

    def tag(self, source: str, target: str) -> None:
        image = self.resolve(source)
        self.meta.set_ref(normalize(target), image.id)

    def names(self, image: ImageRecord) -> tuple[list[str], list[str]]:
        """(RepoTags, RepoDigests) in Docker's familiar form."""
        tags, digests = [], []
        for ref in self.meta.refs(image.id):
            familiar = parse_reference(ref.name, default_tag=False).familiar()
            (digests if ref.kind == "digest" else tags).append(familiar)
        return tags, digests

    def remove(self, name: str, *, force: bool = False,
               in_use: set[str] | None = None) -> list[dict[str, str]]:
        """`docker rmi`: untag `name`; delete the image when no tag is left. Returns
        Docker's list of {"Untagged": ..} and {"Deleted": ..} entries."""
        image = self.resolve(name)
        by_id = _looks_like_id(name, image.id)
        refs = self.meta.refs(image.id)
        tags = [r for r in refs if r.kind == "tag"]
        if in_use and image.id in in_use and not force:
            raise ImageInUse(
                f"conflict: unable to remove repository reference \"{name}\" (must force) - "
                f"container is using its referenced image {_short(image.id)}")
        if by_id and len(tags) > 1 and not force:
            raise ImageInUse(
                f"conflict: unable to delete {_short(image.id)} (must be forced) - image is "
                "referenced in multiple repositories")
        report: list[dict[str, str]] = []
        doomed = refs if by_id else [r for r in refs if r.name == normalize(name)]
        for ref in doomed:
            self.meta.delete_ref(ref.name)
            report.append({"Untagged": parse_reference(ref.name, default_tag=False).familiar()})
        if not [r for r in self.meta.refs(image.id) if r.kind == "tag"]:
            for ref in self.meta.refs(image.id):  # repo digests go with the image
                self.meta.delete_ref(ref.name)
                report.append({"Untagged": parse_reference(ref.name,
                                                           default_tag=False).familiar()})
            self.meta.delete_image(image.id)
            report.append({"Deleted": image.id})
        return report

    # --- views --------------------------------------------------------------------------

    def list(self, *, all_images: bool = True) -> list[dict[str, Any]]:
        """Docker's ImageSummary entries (`GET /images/json`)."""
        summaries = []
        for image in self.meta.images():
            tags, digests = self.names(image)
            config = self.config_of(image)
            summaries.append({
                "Id": image.id,
                "ParentId": "",
                "RepoTags": tags or ([] if all_images else ["<none>:<none>"]),
                "RepoDigests": digests,
                "Created": int(config.created_timestamp or 0),
                "Size": image.size,
                "SharedSize": -1,
                "VirtualSize": image.size,
                "Labels": dict((config.config.labels if config.config else None) or {}),
                "Containers": -1,
            })
        return summaries

    def inspect(self, name: str) -> dict[str, Any]:
        image = self.resolve(name)
        tags, digests = self.names(image)
        driver_data = {}
        if image.diff_ids:
            chain = image.chain_ids
            top = self.snapshots.fs_path(chain[-1])
            lowers = [str(self.snapshots.fs_path(c)) for c in reversed(chain[:-1])]
            driver_data = {"UpperDir": str(top), "LowerDir": ":".join(lowers)}
        return inspect_json(
            self.config_of(image), image_id=image.id, repo_tags=tags, repo_digests=digests,
            size=image.size, graph_driver=_driver_name(self.snapshots),
            graph_driver_data=driver_data,
        )

    def history(self, name: str) -> list[dict[str, Any]]:
        """`docker history`: newest first; layer entries carry the image ID at the top."""
        image = self.resolve(name)
        config = self.config_of(image)
        layers = [self.meta.get_layer(chain) for chain in image.chain_ids]
        sizes = _layer_sizes(layers)
        rows: list[dict[str, Any]] = []
        layer_index = 0
        for entry in config.history:
            size = 0
            if not entry.empty_layer and layer_index < len(sizes):
                size = sizes[layer_index]
                layer_index += 1
            rows.append({
                "Id": "<missing>",
                "Created": int(_timestamp(entry.created)),
                "CreatedBy": entry.created_by,
                "Tags": None,
                "Size": size,
                "Comment": entry.comment,
            })
        rows.reverse()
        if rows:
            tags, _ = self.names(image)
            rows[0]["Id"] = image.id
            rows[0]["Tags"] = tags or None
        return rows

    def collect_garbage(self, *, dry_run: bool = False) -> Any:
        return collect(self.meta, self.content, self.snapshots, self.references,
                       dry_run=dry_run)

    def prune(self, *, all_images: bool = False, in_use: set[str] | None = None
              ) -> dict[str, Any]:
        """`docker image prune`: dangling images (no tag), or every unused one with `all`."""
        deleted: list[dict[str, str]] = []
        for image in self.meta.images():
            if in_use and image.id in in_use:
                continue
            has_tags = any(r.kind == "tag" for r in self.meta.refs(image.id))
            if has_tags and not all_images:
                continue
            for ref in self.meta.refs(image.id):
                self.meta.delete_ref(ref.name)
                deleted.append({"Untagged": parse_reference(ref.name,
                                                            default_tag=False).familiar()})
            self.meta.delete_image(image.id)
            deleted.append({"Deleted": image.id})
        result = self.collect_garbage()
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": result.bytes_reclaimed}


def normalize(name: str) -> str:
    """The stored form of a reference: `busybox` -> `docker.io/library/busybox:latest`."""
    return str(parse_reference(name))


def _looks_like_id(name: str, image_id: str) -> bool:
    bare = name.removeprefix("sha256:")
    return image_id.removeprefix("sha256:").startswith(bare) and ":" not in bare


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _driver_name(snapshotter: Snapshotter) -> str:
    return "overlay2" if snapshotter.driver == "overlay" else "vfs"


def _layer_sizes(layers: list[Any]) -> list[int]:
    return [layer.size if layer is not None else 0 for layer in layers]


def _timestamp(created: str | None) -> float:
    if not created:
        return 0.0
    from .config import parse_time

    try:
        return parse_time(created).timestamp()
    except ValueError:
        return 0.0


def dump_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


__all__ = ["ImageInUse", "ImageNotFound", "ImageStore", "mt", "normalize"]
