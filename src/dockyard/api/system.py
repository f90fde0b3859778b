"""System resource: _ping, version, info, events, auth."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from .. import __version__
from .app import API_VERSION, MIN_API_VERSION, ctx_of
from .errors import ApiError, BadParameter, Unauthorized
from .events import EventFilter
from .util import JsonStream, json_response, parse_filters, parse_timestamp

GIT_COMMIT = "dockyard"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
         "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def go_arch() -> str:
    machine = platform.machine()
    return _ARCH.get(machine, machine)


async def ping(request: web.Request) -> web.StreamResponse:
    headers = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
               "Builder-Version": "1", "Swarm": "inactive"}
    if request.method == "HEAD":
        # moby: no body, Content-Length 0 (aiohttp leaves it out of an empty HEAD reply)
        return web.Response(status=200, headers={**headers, "Content-Length": "0"},
                            content_type="text/plain", charset="utf-8")
    return web.Response(body=b"OK", headers=headers, content_type="text/plain",
                        charset="utf-8")


def _version_fields() -> dict[str, Any]:
    return {
        "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": GIT_COMMIT, "GoVersion": f"python{platform.python_version()}",
        "Os": "linux", "Arch": go_arch(), "KernelVersion": platform.release(),
        "BuildTime": "", "Experimental": False,
    }


async def version(request: web.Request) -> web.Response:
    fields = _version_fields()
    details = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in fields.items()
               if k not in ("Version",)}
    return json_response({
        "Platform": {"Name": "dockyard Engine"},
        "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
        **fields,
    })


def cgroup_version() -> str:
    return "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def registry_config(config: Any) -> dict[str, Any]:
    """moby's registry.ServiceConfig as /info shows it."""
    cidrs = ["127.0.0.0/8", "::1/128"]
    index: dict[str, Any] = {"docker.io": {"Name": "docker.io", "Mirrors": list(config.mirrors),
                                           "Secure": True, "Official": True}}
    for entry in config.insecure_registries:
        if "/" in entry:
            cidrs.append(entry)
        else:
            index[entry] = {"Name": entry, "Mirrors": [], "Secure": False, "Official": False}
    return {"AllowNondistributableArtifactsCIDRs": None,
            "AllowNondistributableArtifactsHostnames": None,
            "InsecureRegistryCIDRs": cidrs, "IndexConfigs": index,
            "Mirrors": list(config.mirrors)}


def _info(request: web.Request) -> dict[str, Any]:
    ctx = ctx_of(request)
    config = ctx.config
    counts = ctx.hooks.container_counts()
    driver = "overlay2" if ctx.store.snapshots.driver == "overlay" else "vfs"
    cg2 = cgroup_version() == "2"
    ncpu = os.cpu_count() or 1
    runtimes = {name: ({"path": spec.get("path", name)} |
                       ({"runtimeArgs": spec["runtimeArgs"]} if spec.get("runtimeArgs") else {}))
                for name, spec in config.runtimes.items()}
    security = ["name=seccomp,profile=builtin"]
    if cg2:
        security.append("name=cgroupns")
    if os.geteuid() != 0:
        security.append("name=rootless")
    info: dict[str, Any] = {
        "ID": ctx.engine_id, "Containers": counts.total, "ContainersRunning": counts.running,
        "ContainersPaused": counts.paused, "ContainersStopped": counts.stopped,
        "Images": len(ctx.store.meta.images()), "Driver": driver,
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"],
                         ["Using metacopy", "false"], ["Native Overlay Diff", "true"],
                         ["userxattr", "false"]] if driver == "overlay2" else [],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                    "Authorization": None, "Log": ["json-file", "local", "none"]},
        "MemoryLimit": True, "SwapLimit": True, "KernelMemory": False,
        "KernelMemoryTCP": False, "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True,
        "BridgeNfIptables": False, "BridgeNfIp6tables": False, "Debug":
            config.log_level == "debug", "NFd": len(os.listdir("/proc/self/fd")),
        "OomKillDisable": not cg2, "NGoroutines": 0,
        "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) +
            f".{time.time_ns() % 1_000_000_000:09d}Z",
        "LoggingDriver": config.log_driver, "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(), "NEventsListener": 0,
        "KernelVersion": platform.release(), "OperatingSystem": _os_name(),
        "OSVersion": "", "OSType": "linux", "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config(config), "NCPU": ncpu, "MemTotal": _mem_total(),
        "GenericResources": None, "DockerRootDir": str(config.data_root),
        "HttpProxy": os.environ.get("HTTP_PROXY", ""),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", ""),
        "NoProxy": os.environ.get("NO_PROXY", ""), "Name": socket.gethostname(),
        "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": runtimes, "DefaultRuntime": config.default_runtime,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": config.live_restore, "Isolation": "",
        "InitBinary": "docker-init", "ContainerdCommit": {"ID": GIT_COMMIT},
        "RuncCommit": {"ID": GIT_COMMIT}, "InitCommit": {"ID": GIT_COMMIT},
        "SecurityOptions": security, "ProductLicense": "", "DefaultAddressPools": None,
        "CDISpecDirs": [], "Warnings": [],
    }
    info.update(ctx.hooks.info_extra())
    return info


async def info(request: web.Request) -> web.Response:
    return json_response(await asyncio.to_thread(_info, request))


async def events(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    match = EventFilter(parse_filters(request, EventFilter.KEYS))
    now = time.time()
    since = parse_timestamp(request.query["since"], now=now) if request.query.get("since") \
        else None
    until = parse_timestamp(request.query["until"], now=now) if request.query.get("until") \
        else None
    if since is not None and until is not None and until < since:
        raise BadParameter("`since` time must be before `until` time")
    past, queue = ctx.events.subscribe()
    stream = JsonStream(request)
    try:
        await stream.start()  # flush the headers now: clients wait for them

        def wanted(event: dict[str, Any]) -> bool:
            t = event["timeNano"] / 1e9
            return (since is None or t >= since) and (until is None or t <= until) and \
                match(event)

        if since is not None:
            for event in past:
                if wanted(event):
                    await stream.send(event)
        while True:
            # Wake up now and then: a client that went away (or the daemon's shutdown)
            # ends this handler, which aiohttp does not cancel by itself.
            timeout = CLIENT_CHECK
            if until is not None:
                timeout = min(timeout, until - time.time())
                if timeout <= 0:
                    break
            try:
                event = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                if _client_gone(request):
                    return stream.response
                continue
            if wanted(event):
                await stream.send(event)
        return await stream.finish()
    except ConnectionError:
        return stream.response
    finally:
        ctx.events.unsubscribe(queue)


CLIENT_CHECK = 0.25  # seconds between checks that an events client is still there


def _client_gone(request: web.Request) -> bool:
    """The client went away, or the daemon is shutting down (aiohttp's shutdown sets
    ``_force_close`` on every connection and then waits for its handler)."""
    transport = request.transport
    return transport is None or transport.is_closing() or \
        bool(getattr(request.protocol, "_force_close", False))


def _registry_host(server: str) -> str:
    server = server.strip() or "docker.io"
    for scheme in ("https://", "http://"):
        server = server.removeprefix(scheme)
    server = server.split("/", 1)[0]
    if server in ("index.docker.io", "registry-1.docker.io"):
        return "docker.io"
    return server


async def auth(request: web.Request) -> web.Response:
    from ..distribution.authconfig import AuthConfig
    from ..distribution.errors import AuthenticationError, DistributionError
    from ..distribution.login import verify_login

    ctx = ctx_of(request)
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError as err:
        raise BadParameter(f"invalid JSON: {err}") from None
    if not isinstance(body, dict):
        raise BadParameter("invalid JSON: expected an object")
    body = {str(k).lower(): v for k, v in body.items()}
    host = _registry_host(str(body.get("serveraddress") or ""))
    creds = AuthConfig(username=str(body.get("username") or ""),
                       password=str(body.get("password") or ""),
                       identity_token=str(body.get("identitytoken") or ""),
                       server_address=host)
    try:
        result = await verify_login(host, creds,
                                    insecure_registries=ctx.config.insecure_registries)
    except AuthenticationError as err:
        raise Unauthorized(f"login attempt to {host} failed: {err}") from None
    except DistributionError as err:
        raise ApiError(f"login attempt to {host} failed: {err}", 500) from None
    return json_response({"Status": "Login Succeeded",
                          "IdentityToken": result.identity_token or ""})


ROUTES = [
    ("GET", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/events", events),
    ("POST", "/auth", auth),
]
