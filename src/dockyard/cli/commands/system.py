"""``version`` and ``info``."""

from __future__ import annotations

import os
import sys

from dockyard import __version__
from dockyard.client.errors import DaemonUnavailable

from ..context import CLIError

# `dockyard version` is the start-up benchmark: typing, json and the template engine
# (for --format only) are imported where they are used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..context import Context
    from ..flags import Parsed


def client_version(ctx: Context) -> dict[str, Any]:
    from dockyard.client import API_VERSION
    return {
        "Platform": {"Name": ""},
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "GitCommit": "",
        "GoVersion": f"python{_python_version()}",
        "Os": sys.platform,
        "Arch": _arch(),
        "BuildTime": "",
        "Context": "default",
    }


def _python_version() -> str:
    # platform.python_version() without importing platform (slow start-up)
    return ".".join(map(str, sys.version_info[:3]))


def _arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _format(ctx: Context, fmt: str, data: Any) -> None:
    from ..template import Template
    if fmt == "json":
        fmt = "{{json .}}"
    ctx.stdout.write(Template(fmt.replace("\\t", "\t").replace("\\n", "\n")).render(data)
                     + "\n")


def version(ctx: Context, opts: Parsed) -> int:
    client = client_version(ctx)
    server: dict[str, Any] | None = None
    error: Exception | None = None
    try:
        server = ctx.client.version()
    except DaemonUnavailable as exc:
        error = exc
    if opts.format:
        _format(ctx, opts.format, {"Client": client, "Server": server})
    else:
        w = ctx.stdout.write
        w("Client:\n")
        for label, value in [("Version", client["Version"]),
                             ("API version", client["ApiVersion"]),
                             ("Python version", _python_version()),
                             ("OS/Arch", f"{client['Os']}/{client['Arch']}"),
                             ("Context", client["Context"])]:
            w(f" {label + ':':<18} {value}\n")
        if server is not None:
            w("\n" + _server_text(server))
    if error is not None:
        raise CLIError(str(error))
    return 0


def _server_text(server: dict[str, Any]) -> str:
    name = (server.get("Platform") or {}).get("Name") or ""
    lines = [f"Server:{' ' + name if name else ''}"]
    components = server.get("Components") or [{
        "Name": "Engine", "Version": server.get("Version", ""), "Details": {
            "ApiVersion": server.get("ApiVersion", ""),
            "MinAPIVersion": server.get("MinAPIVersion", ""),
            "GitCommit": server.get("GitCommit", ""), "GoVersion": server.get("GoVersion", ""),
            "Os": server.get("Os", ""), "Arch": server.get("Arch", ""),
            "BuildTime": server.get("BuildTime", ""),
            "Experimental": str(server.get("Experimental", False)).lower()}}]
    for comp in components:
        details = comp.get("Details") or {}
        lines.append(f" {comp.get('Name', '')}:")
        rows = [("Version", comp.get("Version", ""))]
        if comp.get("Name") == "Engine":
            api = details.get("ApiVersion", "")
            if details.get("MinAPIVersion"):
                api += f" (minimum version {details['MinAPIVersion']})"
            rows += [("API version", api), ("Go version", details.get("GoVersion", "")),
                     ("Git commit", details.get("GitCommit", "")),
                     ("Built", details.get("BuildTime", "")),
                     ("OS/Arch", f"{details.get('Os', '')}/{details.get('Arch', '')}"),
                     ("Experimental", str(details.get("Experimental", "false")).lower())]
        elif details.get("GitCommit"):
            rows.append(("GitCommit", details["GitCommit"]))
        lines += [f"  {label + ':':<17} {value}" for label, value in rows]
    return "\n".join(lines) + "\n"


def info(ctx: Context, opts: Parsed) -> int:
    client_info = {"Debug": ctx.debug, "Context": "default", "Plugins": [], "Warnings": None}
    server: dict[str, Any] | None = None
    error: Exception | None = None
    try:
        server = ctx.client.info()
    except DaemonUnavailable as exc:
        error = exc
    if opts.format:
        data = dict(server or {})
        data["ClientInfo"] = client_info
        if server is None:
            data["ServerErrors"] = [str(error)]
        _format(ctx, opts.format, data)
        return 1 if error else 0
    w = ctx.stdout.write
    w(f"Client:\n Version:    {__version__}\n Context:    default\n"
      f" Debug Mode: {str(ctx.debug).lower()}\n\nServer:\n")
    if server is None:
        raise CLIError(str(error))
    w(_info_text(server))
    for warning in server.get("Warnings") or []:
        ctx.stderr.write(f"{warning}\n")
    return 0


def _info_text(i: dict[str, Any]) -> str:
    from ..format import bytes_size
    g = i.get
    lines = [
        f" Containers: {g('Containers', 0)}",
        f"  Running: {g('ContainersRunning', 0)}",
        f"  Paused: {g('ContainersPaused', 0)}",
        f"  Stopped: {g('ContainersStopped', 0)}",
        f" Images: {g('Images', 0)}",
        f" Server Version: {g('ServerVersion', '')}",
        f" Storage Driver: {g('Driver', '')}",
    ]
    for pair in g("DriverStatus") or []:
        if len(pair) == 2:
            lines.append(f"  {pair[0]}: {pair[1]}")
    lines += [
        f" Logging Driver: {g('LoggingDriver', '')}",
        f" Cgroup Driver: {g('CgroupDriver', '')}",
        f" Cgroup Version: {g('CgroupVersion', '')}",
    ]
    plugins = g("Plugins") or {}
    lines.append(" Plugins:")
    for kind in ("Volume", "Network", "Log"):
        if plugins.get(kind):
            lines.append(f"  {kind}: {' '.join(plugins[kind])}")
    runtimes = g("Runtimes") or {}
    if runtimes:
        lines.append(f" Runtimes: {' '.join(sorted(runtimes))}")
    lines.append(f" Default Runtime: {g('DefaultRuntime', '')}")
    if g("InitBinary"):
        lines.append(f" Init Binary: {g('InitBinary')}")
    sec = g("SecurityOptions") or []
    if sec:
        lines.append(" Security Options:")
        for opt in sec:
            for part in str(opt).split(","):
                key, _, value = part.partition("=")
                if key == "name":
                    lines.append(f"  {value}")
                else:
                    lines.append(f"   {key.title()}: {value}")
    lines += [
        f" Kernel Version: {g('KernelVersion', '')}",
        f" Operating System: {g('OperatingSystem', '')}",
        f" OSType: {g('OSType', '')}",
        f" Architecture: {g('Architecture', '')}",
        f" CPUs: {g('NCPU', 0)}",
        f" Total Memory: {bytes_size(g('MemTotal') or 0)}",
        f" Name: {g('Name', '')}",
        f" ID: {g('ID', '')}",
        f" Docker Root Dir: {g('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(g('Debug'))).lower()}",
        f" Experimental: {str(bool(g('ExperimentalBuild'))).lower()}",
    ]
    reg = g("RegistryConfig") or {}
    insecure = reg.get("InsecureRegistryCIDRs") or []
    indexes = reg.get("IndexConfigs") or {}
    insecure += [name for name, conf in indexes.items() if not conf.get("Secure", True)]
    if insecure:
        lines.append(" Insecure Registries:")
        lines += [f"  {r}" for r in insecure]
    mirrors = reg.get("Mirrors") or []
    if mirrors:
        lines.append(" Registry Mirrors:")
        lines += [f"  {m}" for m in mirrors]
    lines.append(f" Live Restore Enabled: {str(bool(g('LiveRestoreEnabled'))).lower()}")
    return "\n".join(lines) + "\n\n"


def dumps(value: Any) -> str:
    import json
    return json.dumps(value, indent=4)
