"""Volume endpoints (``/volumes/...``)."""

from __future__ import annotations

from .system import filters_json
from .transport import Transport, quote

TYPE_CHECKING = False  # typing and collections.abc cost CLI start-up
if TYPE_CHECKING:
    from typing import Any


def _v(name: str) -> str:
    return "/volumes/" + quote(name, safe="")


class VolumesAPI:
    transport: Transport

    def volumes(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return self.transport.get("/volumes", {"filters": filters_json(filters)}) or {}

    def create_volume(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.transport.post("/volumes/create", body=body)

    def inspect_volume(self, name: str) -> dict[str, Any]:
        return self.transport.get(_v(name))

    def remove_volume(self, name: str, force: bool = False) -> None:
        self.transport.delete(_v(name), {"force": "1" if force else None})

    def prune_volumes(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return self.transport.post("/volumes/prune", {"filters": filters_json(filters)})
