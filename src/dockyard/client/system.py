"""System endpoints: ``/_ping``, ``/version``, ``/info``, ``/events``, ``/system/df``, ``/auth``."""

from __future__ import annotations

from .transport import Transport

TYPE_CHECKING = False  # typing and collections.abc cost CLI start-up
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


class SystemAPI:
    transport: Transport

    def ping(self) -> bool:
        return self.transport.open("GET", "/_ping", versioned=False).read().strip() == b"OK"

    def version(self) -> dict[str, Any]:
        return self.transport.get("/version")

    def info(self) -> dict[str, Any]:
        return self.transport.get("/info")

    def events(self, since: str | None = None, until: str | None = None,
               filters: dict[str, list[str]] | None = None) -> Iterator[dict[str, Any]]:
        return self.transport.stream_json("GET", "/events", {
            "since": since, "until": until, "filters": filters_json(filters)})

    def df(self, types: list[str] | None = None) -> dict[str, Any]:
        return self.transport.get("/system/df", {"type": types})

    def auth(self, username: str, password: str, serveraddress: str = "",
             identitytoken: str = "") -> dict[str, Any]:
        body = {"username": username, "password": password, "serveraddress": serveraddress}
        if identitytoken:
            body["identitytoken"] = identitytoken
        return self.transport.post("/auth", body=body)


def filters_json(filters: dict[str, list[str]] | None) -> dict[str, dict[str, bool]] | None:
    """``{"label": ["a=b"]}`` → the CLI's ``{"label": {"a=b": true}}``."""
    if not filters:
        return None
    return {key: dict.fromkeys(values, True) for key, values in filters.items()}
