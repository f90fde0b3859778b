"""Network endpoints (``/networks/...``)."""

from __future__ import annotations

from .system import filters_json
from .transport import Transport, quote

TYPE_CHECKING = False  # typing and collections.abc cost CLI start-up
if TYPE_CHECKING:
    from typing import Any


def _n(network: str) -> str:
    return "/networks/" + quote(network, safe="")


class NetworksAPI:
    transport: Transport

    def networks(self, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        return self.transport.get("/networks", {"filters": filters_json(filters)}) or []

    def inspect_network(self, network: str, verbose: bool = False,
                        scope: str | None = None) -> dict[str, Any]:
        return self.transport.get(_n(network), {"verbose": "true" if verbose else None,
                                                "scope": scope or None})

    def create_network(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.transport.post("/networks/create", body=body)

    def remove_network(self, network: str) -> None:
        self.transport.delete(_n(network))

    def connect_network(self, network: str, container: str,
                        endpoint_config: dict[str, Any] | None = None) -> None:
        self.transport.post(_n(network) + "/connect", body={
            "Container": container, "EndpointConfig": endpoint_config})

    def disconnect_network(self, network: str, container: str, force: bool = False) -> None:
        self.transport.post(_n(network) + "/disconnect",
                            body={"Container": container, "Force": force})

    def prune_networks(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return self.transport.post("/networks/prune", {"filters": filters_json(filters)})
