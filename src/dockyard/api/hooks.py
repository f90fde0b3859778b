"""What the API asks of the engine. The engine subclasses :class:`EngineHooks` and hands
an instance to ``create_app``; until then these defaults describe a daemon with no
containers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContainerCounts:
    total: int = 0
    running: int = 0
    paused: int = 0
    stopped: int = 0


@dataclass(frozen=True)
class CommitSource:
    """What ``POST /commit`` needs to know about a container."""

    container_id: str
    snapshot_key: str  # its writable snapshot in the image store's snapshotter
    image_id: str | None  # the image it was created from (None: from scratch)
    config: dict[str, object] | None = None  # its Config, Docker-shaped


class EngineHooks:
    """The seam between the API and the engine.

    ``dockyardd`` looks for ``dockyard.engine.create_engine(config, store, events)``; when
    the engine package provides it, its result (an ``EngineHooks``) is used, its
    :meth:`routes` are served next to the image and system routes (unversioned and under
    ``/v1.24``..``/v1.44``), :meth:`start` runs before the socket opens and :meth:`stop`
    after it closes (live restore: leave containers running).
    """

    def routes(self) -> list[tuple[str, str, object]]:
        """``(method, path, handler)``: e.g. ``("POST", "/containers/create", h)``."""
        return []

    async def start(self) -> None:
        """Re-adopt containers, start restart-policy and health-check tasks."""

    async def stop(self) -> None:
        """Stop background tasks; containers keep running when live restore is on."""

    def images_in_use(self) -> set[str]:
        """Image IDs (``sha256:<hex>``) that some container (running or not) uses:
        ``DELETE /images/{name}`` refuses them without ``force`` (409), prune skips them."""
        return set()

    def container_counts(self) -> ContainerCounts:
        """For ``GET /info``."""
        return ContainerCounts()

    def containers_per_image(self) -> dict[str, int]:
        """Image ID -> number of containers, for ``Containers`` in ``GET /images/json``;
        an image missing here is reported as -1 (not computed), as moby does by default."""
        return {}

    def disk_usage(self) -> dict[str, list[dict[str, object]]]:
        """For ``GET /system/df``: ``{"Containers": [...], "Volumes": [...]}`` in Docker's
        shapes (each volume with ``UsageData: {Size, RefCount}``: the CLI needs it)."""
        return {"Containers": [], "Volumes": []}

    def commit_source(self, container: str) -> CommitSource:
        """The container ``container`` (name, ID or ID prefix) for ``POST /commit``;
        raise :class:`dockyard.api.errors.NotFound` ("No such container: x") when absent.
        The engine should also pause it around the commit when ``pause`` is asked."""
        from .errors import NotFound

        raise NotFound(f"No such container: {container}")

    def info_extra(self) -> dict[str, object]:
        """Fields the engine wants to set or override in ``GET /info``."""
        return {}
