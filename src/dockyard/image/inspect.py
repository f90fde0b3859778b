"""Docker's `image inspect` JSON for an image, in Go's field order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.image.config import ImageConfig, RunConfig, normalize_time

# --- docker image inspect -----------------------------------------------------------

_ZERO_TIME = "0001-01-01T00:00:00Z"


def _api_lt(version: str, other: str) -> bool:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".") if p.isdigit())

    return key(version) < key(other)


def inspect_json(
    config: ImageConfig,
    *,
    image_id: str | None = None,
    repo_tags: Sequence[str] = (),
    repo_digests: Sequence[str] = (),
    parent: str | None = None,
    size: int = 0,
    graph_driver: str = "overlay2",
    graph_driver_data: Mapping[str, str] | None = None,
    last_tag_time: str | None = None,
    api_version: str = "1.44",
) -> dict[str, Any]:
    """One element of ``docker image inspect``: Go's ``ImageInspect`` field for field.

    ``Comment`` falls back to the last history entry's, ``Os`` to ``linux``, times are
    re-formatted as Go prints them. API < 1.44 adds ``VirtualSize`` (= ``Size``);
    API >= 1.45 drops the deprecated ``Container`` and ``ContainerConfig``.
    """
    comment = config.comment
    if not comment and config.history:
        comment = config.history[-1].comment
    out: dict[str, Any] = {
        "Id": image_id or config.image_id,
        "RepoTags": list(repo_tags),
        "RepoDigests": list(repo_digests),
        "Parent": config.parent if parent is None else parent,
        "Comment": comment,
    }
    if config.created:
        out["Created"] = normalize_time(config.created)
    legacy = _api_lt(api_version, "1.45")
    if legacy:
        if config.container:
            out["Container"] = config.container
        out["ContainerConfig"] = (config.container_config or RunConfig()).docker_json()
    out["DockerVersion"] = config.docker_version
    out["Author"] = config.author
    out["Config"] = config.config.docker_json() if config.config is not None else None
    out["Architecture"] = config.architecture
    if config.variant:
        out["Variant"] = config.variant
    out["Os"] = config.os or "linux"
    if config.os_version:
        out["OsVersion"] = config.os_version
    out["Size"] = size
    if _api_lt(api_version, "1.44"):
        out["VirtualSize"] = size
    out["GraphDriver"] = {"Data": dict(graph_driver_data or {}), "Name": graph_driver}
    rootfs: dict[str, Any] = {"Type": config.rootfs_type}
    if config.diff_ids:
        rootfs["Layers"] = list(config.diff_ids)
    out["RootFS"] = rootfs
    out["Metadata"] = {
        "LastTagTime": normalize_time(last_tag_time) if last_tag_time else _ZERO_TIME
    }
    return out


