"""The aiohttp application: routing (unversioned and ``/v1.24`` to ``/v1.44``), Docker's
headers on every response, and Docker's JSON errors (never a traceback)."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .. import __version__
from .errors import ApiError
from .events import EventBus
from .hooks import EngineHooks
from .util import json_response

log = logging.getLogger("dockyard.api")

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"
SERVER_HEADER = f"Docker/{__version__} (linux)"
_VERSIONED = re.compile(r"^/v([0-9][0-9.]*)(/.*)?$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]


@dataclass
class ApiContext:
    """What the handlers share: the daemon's config, the image store (opened once), the
    event bus and the engine's hooks."""

    config: Any  # dockyard.daemon.DaemonConfig
    store: Any  # dockyard.image.store.ImageStore
    events: EventBus = field(default_factory=EventBus)
    hooks: EngineHooks = field(default_factory=EngineHooks)
    engine_id: str = ""


CTX = web.AppKey("dockyard_ctx", ApiContext)


def version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return ()


def request_version(request: web.Request) -> str:
    """The API version the client asked for (the default for unversioned paths)."""
    match = _VERSIONED.match(request.path)
    return match.group(1) if match else API_VERSION


def at_least(request: web.Request, version: str) -> bool:
    return version_tuple(request_version(request)) >= version_tuple(version)


def _check_version(path: str) -> None:
    match = _VERSIONED.match(path)
    if not match:
        return
    asked = match.group(1)
    wanted = version_tuple(asked)
    if not wanted:
        raise ApiError(f"invalid API version {asked!r}", 400)
    if wanted < version_tuple(MIN_API_VERSION):
        raise ApiError(f"client version {asked} is too old. Minimum supported API version "
                       f"is {MIN_API_VERSION}, please upgrade your client to a newer version",
                       400)
    if wanted > version_tuple(API_VERSION):
        raise ApiError(f"client version {asked} is too new. Maximum supported API version "
                       f"is {API_VERSION}", 400)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        _check_version(request.path)
        return await handler(request)
    except ApiError as err:
        return json_response({"message": err.message}, err.status)
    except web.HTTPException as err:
        if err.status in (404, 405):
            return json_response({"message": "page not found"}, 404)
        if err.status < 400:
            raise
        return json_response({"message": err.reason or err.text or "error"}, err.status)
    except (ConnectionResetError, BrokenPipeError):
        raise
    except Exception as err:  # the daemon never dies from a request, and never shows a trace
        log.exception("%s %s", request.method, request.path)
        return json_response({"message": str(err) or type(err).__name__}, 500)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Api-Version"] = API_VERSION
    response.headers["Docker-Experimental"] = "false"
    response.headers["Ostype"] = "linux"
    response.headers["Server"] = SERVER_HEADER


def create_app(ctx: ApiContext, extra_routes: Iterable[Route] = ()) -> web.Application:
    """The Engine API application; ``extra_routes`` lets the engine add its routers
    (``(method, "/containers/{id}/json", handler)``) with the same versioning."""
    from . import images, system

    app = web.Application(middlewares=[errors_middleware])
    app[CTX] = ctx
    app.on_response_prepare.append(_headers)
    routes: list[Route] = [*system.ROUTES, *images.ROUTES, *extra_routes]
    for prefix in ("", "/v{version:[0-9][0-9.]*}"):
        for method, path, handler in routes:
            if method == "GET":
                app.router.add_route("GET", prefix + path, handler)
                app.router.add_route("HEAD", prefix + path, handler)
            else:
                app.router.add_route(method, prefix + path, handler)
    return app


def ctx_of(request: web.Request) -> ApiContext:
    return request.app[CTX]
