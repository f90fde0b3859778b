"""Volume endpoints of the Engine API (v1.44): thin handlers over the engine's
:class:`~dockyard.engine.volumes.VolumeService` (``hooks.engine.volumes``).

``GET /volumes`` (filters dangling, driver, label, name), ``POST /volumes/create``,
``GET /volumes/{name}``, ``DELETE /volumes/{name}`` (``force``), ``POST /volumes/prune``
(label, label!, all). Engine errors become Docker's JSON errors.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .errors import ApiError, BadParameter
from .util import bool_value, engine_errors, json_response, parse_filters

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]




def _string_map(body: dict[str, Any], key: str) -> dict[str, str]:
    value = body.get(key) or {}
    if not isinstance(value, dict):
        raise BadParameter(f"invalid {key}: expected an object")
    return {str(k): str(v) for k, v in value.items()}


class VolumeRoutes:
    def __init__(self, hooks: Any) -> None:
        self.hooks = hooks

    @property
    def service(self) -> Any:
        engine = self.hooks.engine
        if engine is None:
            raise ApiError("the engine is not running", 503)
        return engine.volumes

    async def list(self, request: web.Request) -> web.Response:
        filters = parse_filters(request)
        volumes = await asyncio.to_thread(self.service.list, filters)
        return json_response({"Volumes": volumes, "Warnings": []})

    async def create(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as err:
            raise BadParameter(f"invalid JSON: {err}") from None
        if not isinstance(body, dict):
            raise BadParameter("invalid JSON: expected an object")
        name = body.get("Name") or ""
        if not isinstance(name, str):
            raise BadParameter("invalid Name: expected a string")
        volume = await asyncio.to_thread(
            self.service.create, name or None, body.get("Driver") or None,
            _string_map(body, "DriverOpts") or None, _string_map(body, "Labels"))
        return json_response(volume, status=201)

    async def inspect(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return json_response(await asyncio.to_thread(self.service.get, name))

    async def remove(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await asyncio.to_thread(self.service.remove, name, bool_value(request, "force"))
        return web.Response(status=204)

    async def prune(self, request: web.Request) -> web.Response:
        filters = parse_filters(request)
        return json_response(await asyncio.to_thread(self.service.prune, filters))


def routes(hooks: Any) -> list[tuple[str, str, Handler]]:
    r = VolumeRoutes(hooks)
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/volumes", r.list),
        ("POST", "/volumes/create", r.create),
        ("POST", "/volumes/prune", r.prune),
        ("GET", "/volumes/{name}", r.inspect),
        ("DELETE", "/volumes/{name}", r.remove),
    ]
    return [(m, p, engine_errors(h)) for m, p, h in table]
