"""Network endpoints of the Engine API (v1.44): ``/networks``, ``/networks/{id}``,
``/networks/create``, ``/networks/{id}/connect|disconnect``, ``/networks/prune``.

Thin handlers over the NetworkManager (``hooks.network``, blocking and thread-safe: called
through ``asyncio.to_thread``). The manager's errors carry Docker's text and ``status``
(network/errors.py) and become Docker's JSON errors here, as do the engine's (an unknown
container). The request bodies are checked here the way Go's JSON decoding in moby would
reject them (wrong types), before the manager sees them.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .errors import ApiError, BadParameter, NotFound, NotImplementedYet
from .util import json_response, parse_filters, parse_timestamp

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PRUNE_FILTERS = frozenset({"until", "label", "label!"})
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
ENABLE_IPV6_OPT = "com.docker.network.enable_ipv6"


def _errors(fn: Handler) -> Handler:
    """NetworkError / EngineError -> Docker's JSON error with their status."""
    from dockyard.engine.errors import EngineError
    from dockyard.network.errors import NetworkError

    @functools.wraps(fn)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except NetworkError as err:
            raise ApiError(str(err), err.status) from None
        except EngineError as err:
            raise ApiError(err.message, err.status) from None

    return wrapper


# --- request bodies, checked as Go's encoding/json would ---------------------------------


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(value: Any, where: str, want: str) -> BadParameter:
    return BadParameter(f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
                        f"{where} of type {want}")


def _field(body: dict[str, Any], key: str, kind: type, where: str, want: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _type_error(value, f"{where}.{key}", want)
    return value


def _str_map(body: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = _field(body, key, dict, where, "map[string]string")
    for item in (value or {}).values():
        if not isinstance(item, str):
            raise _type_error(item, f"{where}.{key}", "string")
    return dict(value or {})


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise BadParameter("invalid JSON: request body is empty")
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise BadParameter(f"invalid character in JSON: {err}") from None
    if not isinstance(body, dict):
        raise BadParameter("json: cannot unmarshal " + _json_kind(body) +
                           " into Go value of type network.CreateRequest")
    return body


def _ipam(body: dict[str, Any]) -> dict[str, Any] | None:
    ipam = _field(body, "IPAM", dict, "CreateRequest", "network.IPAM")
    if ipam is None:
        return None
    where = "CreateRequest.IPAM"
    out: dict[str, Any] = {
        "Driver": _field(ipam, "Driver", str, where, "string") or "default",
        "Options": _str_map(ipam, "Options", where),
        "Config": []}
    for entry in _field(ipam, "Config", list, where, "[]network.IPAMConfig") or []:
        if not isinstance(entry, dict):
            raise _type_error(entry, f"{where}.Config", "network.IPAMConfig")
        item = {}
        for key in ("Subnet", "IPRange", "Gateway"):
            value = _field(entry, key, str, f"{where}.Config", "string")
            if value:
                item[key] = value
        aux = _str_map(entry, "AuxiliaryAddresses", f"{where}.Config")
        if aux:
            item["AuxiliaryAddresses"] = aux
        out["Config"].append(item)
    if out["Driver"] != "default":
        raise NotFound(f'plugin "{out["Driver"]}" not found')
    return out


def create_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """A NetworkCreateRequest -> keyword arguments of ``NetworkManager.create_network``."""
    where = "CreateRequest"
    name = _field(body, "Name", str, where, "string") or ""
    if not name:
        raise BadParameter("invalid name: name is empty")
    for key in ("CheckDuplicate", "Internal", "Attachable", "Ingress", "ConfigOnly",
                "EnableIPv4", "EnableIPv6"):
        _field(body, key, bool, where, "bool")
    for key in ("Driver", "Scope"):
        _field(body, key, str, where, "string")
    config_from = _field(body, "ConfigFrom", dict, where, "network.ConfigReference")
    options = _str_map(body, "Options", where)
    labels = _str_map(body, "Labels", where)
    driver = body.get("Driver") or "bridge"
    if driver == "overlay":
        raise ApiError('This node is not a swarm manager. Use "docker swarm init" or "docker '
                       'swarm join" to connect this node to swarm and try again.', 403)
    if body.get("Ingress") or (body.get("Scope") or "local") not in ("local",):
        raise ApiError("only swarm-scoped networks can be ingress or swarm/global scoped "
                       "on this engine", 403)
    if body.get("ConfigOnly") or (config_from or {}).get("Network"):
        raise NotImplementedYet("config-only networks are not supported")
    enable_ipv6 = body.get("EnableIPv6")
    if enable_ipv6 is None and ENABLE_IPV6_OPT in options:
        # moby: the driver option stands in for a missing EnableIPv6
        value = options.pop(ENABLE_IPV6_OPT)
        if value not in _TRUE + _FALSE:
            raise BadParameter(f'driver-opt "{ENABLE_IPV6_OPT}" is not a valid bool')
        enable_ipv6 = value in _TRUE
    options.pop(ENABLE_IPV6_OPT, None)
    # EnableIPv4 arrived with API 1.48: a 1.44 daemon ignores it, as moby does.
    return {"name": name, "driver": driver, "internal": bool(body.get("Internal")),
            "attachable": bool(body.get("Attachable")), "enable_ipv6": bool(enable_ipv6),
            "ipam": _ipam(body), "options": options, "labels": labels}


def _go_bool(text: str, what: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadParameter(f'invalid value for {what}: {text}: strconv.ParseBool: parsing '
                       f'"{text}": invalid syntax')


# --- handlers ----------------------------------------------------------------------------


class Routes:
    def __init__(self, hooks: Any) -> None:
        self.hooks = hooks

    @property
    def net(self) -> Any:
        if self.hooks.network is None:
            raise ApiError("the network controller is not running", 503)
        return self.hooks.network

    def _container(self, ref: Any) -> tuple[str, str]:
        """(id, name) of a container reference, Docker's errors for a missing one."""
        if not isinstance(ref, str):
            raise _type_error(ref, "ConnectOptions.Container", "string")
        if not ref:
            raise BadParameter("invalid container name or ID: value is empty")
        live = self.hooks.engine._get(ref)  # NoSuchContainer: 404
        return live.id, str(live.rec.get("Name") or "")

    async def list(self, request: web.Request) -> web.StreamResponse:
        filters = parse_filters(request)
        return json_response(await asyncio.to_thread(self.net.list_networks, filters))

    async def inspect(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        verbose = _go_bool(request.query.get("verbose", "false") or "false", "verbose")
        scope = request.query.get("scope", "")
        if scope and scope != "local":  # every network here is local
            raise NotFound(f"network {ref} not found")
        return json_response(await asyncio.to_thread(self.net.inspect_network, ref,
                                                     verbose=verbose))

    async def create(self, request: web.Request) -> web.StreamResponse:
        kwargs = create_arguments(await _body(request))
        result = await asyncio.to_thread(functools.partial(self.net.create_network, **kwargs))
        return json_response({"Id": result.get("Id", ""), "Warning": result.get("Warning", "")},
                             201)

    async def remove(self, request: web.Request) -> web.StreamResponse:
        await asyncio.to_thread(self.net.remove_network, request.match_info["id"])
        return web.Response(status=204)

    async def connect(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        body = await _body(request)
        endpoint = _field(body, "EndpointConfig", dict, "ConnectOptions",
                          "network.EndpointSettings")

        def work() -> None:
            cid, name = self._container(body.get("Container"))
            self.net.connect(ref, cid, endpoint_config=endpoint, name=name)

        await asyncio.to_thread(work)
        return web.Response(status=200)

    async def disconnect(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        body = await _body(request)
        force = bool(_field(body, "Force", bool, "DisconnectOptions", "bool"))

        def work() -> None:
            cid, _ = self._container(body.get("Container"))
            self.net.disconnect(ref, cid, force=force)

        await asyncio.to_thread(work)
        return web.Response(status=200)

    async def prune(self, request: web.Request) -> web.StreamResponse:
        filters = parse_filters(request, PRUNE_FILTERS)
        for value in filters.get("until", []):
            parse_timestamp(value)  # 400 for a bad one, before anything is removed
        deleted = await asyncio.to_thread(self.net.prune_networks, filters)
        return json_response({"NetworksDeleted": list(deleted) or None})


def routes(hooks: Any) -> list[tuple[str, str, Handler]]:
    r = Routes(hooks)
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/networks", r.list),
        ("POST", "/networks/create", r.create),
        ("POST", "/networks/prune", r.prune),
        ("GET", "/networks/{id}", r.inspect),
        ("DELETE", "/networks/{id}", r.remove),
        ("POST", "/networks/{id}/connect", r.connect),
        ("POST", "/networks/{id}/disconnect", r.disconnect),
    ]
    return [(m, p, _errors(h)) for m, p, h in table]


__all__ = ["Routes", "create_arguments", "routes"]
