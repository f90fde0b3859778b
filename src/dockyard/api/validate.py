"""Type and enum checks of a container create body, before the engine sees it.

moby decodes the body into Go structs, so a value of the wrong JSON type is a 400 that
names the field (``json: cannot unmarshal string into Go struct field
ContainerConfigWrapper.HostConfig.Memory of type int64``), and its validation refuses
unknown modes (``invalid IPC mode: weird``). This module does both as pure functions:
:func:`check_create` raises :class:`ValueError` with Docker's message. JSON ``null``
is always accepted (Go leaves the zero value).
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from typing import Any

ROOT = "ContainerConfigWrapper"

# Go types, by field. A dict is a nested struct; ("[]", T) a slice of T;
# ("map", T) a map of string to T; "strslice" a string or a list of strings.
_INT = ("int", "int64", "uint16", "uint32", "uint64", "time.Duration")
_ULIMIT = {"Name": "string", "Hard": "int64", "Soft": "int64"}
_THROTTLE = {"Path": "string", "Rate": "uint64"}
_HEALTH = {"Test": ("[]", "string"), "Interval": "time.Duration",
           "Timeout": "time.Duration", "StartPeriod": "time.Duration",
           "StartInterval": "time.Duration", "Retries": "int"}
_CONFIG: dict[str, Any] = {
    "Hostname": "string", "Domainname": "string", "User": "string",
    "AttachStdin": "bool", "AttachStdout": "bool", "AttachStderr": "bool",
    "ExposedPorts": ("map", "object"), "Tty": "bool", "OpenStdin": "bool",
    "StdinOnce": "bool", "Env": ("[]", "string"), "Cmd": "strslice",
    "Healthcheck": _HEALTH, "ArgsEscaped": "bool", "Image": "string",
    "Volumes": ("map", "object"), "WorkingDir": "string", "Entrypoint": "strslice",
    "NetworkDisabled": "bool", "MacAddress": "string", "OnBuild": ("[]", "string"),
    "Labels": ("map", "string"), "StopSignal": "string", "StopTimeout": "int",
    "Shell": "strslice",
}
_HOST: dict[str, Any] = {
    "CpuShares": "int64", "Memory": "int64", "CgroupParent": "string",
    "BlkioWeight": "uint16",
    "BlkioWeightDevice": ("[]", {"Path": "string", "Weight": "uint16"}),
    "BlkioDeviceReadBps": ("[]", _THROTTLE), "BlkioDeviceWriteBps": ("[]", _THROTTLE),
    "BlkioDeviceReadIOps": ("[]", _THROTTLE), "BlkioDeviceWriteIOps": ("[]", _THROTTLE),
    "CpuPeriod": "int64", "CpuQuota": "int64", "CpuRealtimePeriod": "int64",
    "CpuRealtimeRuntime": "int64", "CpusetCpus": "string", "CpusetMems": "string",
    "Devices": ("[]", {"PathOnHost": "string", "PathInContainer": "string",
                       "CgroupPermissions": "string"}),
    "DeviceCgroupRules": ("[]", "string"), "DeviceRequests": ("[]", "object"),
    "KernelMemoryTCP": "int64", "MemoryReservation": "int64", "MemorySwap": "int64",
    "MemorySwappiness": "int64", "NanoCpus": "int64", "OomKillDisable": "bool",
    "Init": "bool", "PidsLimit": "int64", "Ulimits": ("[]", _ULIMIT),
    "CpuCount": "int64", "CpuPercent": "int64", "IOMaximumIOps": "uint64",
    "IOMaximumBandwidth": "uint64", "Binds": ("[]", "string"),
    "ContainerIDFile": "string",
    "LogConfig": {"Type": "string", "Config": ("map", "string")},
    "NetworkMode": "string", "PortBindings": ("map", "any"),
    "RestartPolicy": {"Name": "string", "MaximumRetryCount": "int"},
    "AutoRemove": "bool", "VolumeDriver": "string", "VolumesFrom": ("[]", "string"),
    "Mounts": ("[]", "object"), "ConsoleSize": ("[]", "uint"),
    "Annotations": ("map", "string"), "CapAdd": "strslice", "CapDrop": "strslice",
    "CgroupnsMode": "string", "Dns": ("[]", "string"), "DnsOptions": ("[]", "string"),
    "DnsSearch": ("[]", "string"), "ExtraHosts": ("[]", "string"),
    "GroupAdd": ("[]", "string"), "IpcMode": "string", "Cgroup": "string",
    "Links": ("[]", "string"), "OomScoreAdj": "int", "PidMode": "string",
    "Privileged": "bool", "PublishAllPorts": "bool", "ReadonlyRootfs": "bool",
    "SecurityOpt": ("[]", "string"), "StorageOpt": ("map", "string"),
    "Tmpfs": ("map", "string"), "UTSMode": "string", "UsernsMode": "string",
    "ShmSize": "int64", "Sysctls": ("map", "string"), "Runtime": "string",
    "Isolation": "string", "MaskedPaths": ("[]", "string"),
    "ReadonlyPaths": ("[]", "string"),
}
_BODY: dict[str, Any] = {**_CONFIG, "HostConfig": _HOST, "NetworkingConfig": "object"}
_UNSIGNED = {"uint", "uint16", "uint32", "uint64"}
_LIMITS = {"uint16": 1 << 16, "uint32": 1 << 32, "uint64": 1 << 64, "uint": 1 << 64,
           "int": 1 << 63, "int64": 1 << 63, "time.Duration": 1 << 63}


def _kind(value: Any) -> str:
    """Go's name for a JSON value in UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_name(spec: Any) -> str:
    if isinstance(spec, dict):
        return "struct"
    if isinstance(spec, tuple):
        inner = _go_name(spec[1])
        return f"[]{inner}" if spec[0] == "[]" else f"map[string]{inner}"
    return {"strslice": "strslice.StrSlice", "object": "struct", "any": "any"}.get(spec,
                                                                                  spec)


def _type_error(value: Any, path: str, spec: Any) -> ValueError:
    kind = _kind(value)
    if kind == "number" and isinstance(spec, str) and spec in _INT + tuple(_UNSIGNED):
        kind = f"number {value}"
    return ValueError(f"json: cannot unmarshal {kind} into Go struct field {path} "
                      f"of type {_go_name(spec)}")


def _check(value: Any, spec: Any, path: str) -> None:
    if value is None or spec == "any":
        return
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise _type_error(value, path, spec)
        for key, sub in spec.items():
            if key in value:
                _check(value[key], sub, f"{path}.{key}")
        return
    if isinstance(spec, tuple):
        container, item = spec
        if container == "[]":
            if not isinstance(value, list):
                raise _type_error(value, path, spec)
            for element in value:
                _check(element, item, path)
        else:
            if not isinstance(value, dict):
                raise _type_error(value, path, spec)
            for element in value.values():
                _check(element, item, path)
        return
    if spec == "string":
        ok = isinstance(value, str)
    elif spec == "bool":
        ok = isinstance(value, bool)
    elif spec == "object":
        ok = isinstance(value, dict)
    elif spec == "strslice":
        ok = isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value))
    else:  # the integer types
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok:
            low = 0 if spec in _UNSIGNED else -_LIMITS[spec]
            ok = low <= value < _LIMITS[spec]
    if not ok:
        raise _type_error(value, path, spec)


def _valid_signal(name: str) -> bool:
    if name.isdigit():
        return 0 < int(name) < 65
    upper = name.upper()
    upper = upper if upper.startswith("SIG") else "SIG" + upper
    if upper.startswith(("SIGRTMIN", "SIGRTMAX")):
        return True
    return upper in signal.Signals.__members__


def _container_ref(mode: str, prefix: str = "container:") -> bool:
    return mode.startswith(prefix) and len(mode) > len(prefix)


def _check_modes(body: Mapping[str, Any]) -> None:
    """moby's validateHostConfig / platform checks for the enum-like fields."""
    hc = body.get("HostConfig") or {}
    cgroupns = hc.get("CgroupnsMode") or ""
    if cgroupns not in ("", "private", "host"):
        raise ValueError(f"invalid cgroup namespace mode: {cgroupns}")
    ipc = hc.get("IpcMode") or ""
    if ipc not in ("", "none", "private", "shareable", "host") and not _container_ref(ipc):
        raise ValueError(f"invalid IPC mode: {ipc}")
    pid = hc.get("PidMode") or ""
    if pid not in ("", "host") and not _container_ref(pid):
        raise ValueError(f"invalid PID mode: {pid}")
    uts = hc.get("UTSMode") or ""
    if uts not in ("", "host"):
        raise ValueError(f"invalid UTS mode: {uts}")
    isolation = hc.get("Isolation") or ""
    if isolation not in ("", "default"):
        raise ValueError(f"Invalid isolation: \"{isolation}\" - linux only supports "
                         "'default'")
    stop_signal = body.get("StopSignal") or ""
    if stop_signal and not _valid_signal(stop_signal):
        raise ValueError(f"Invalid signal: {stop_signal}")


def check_create(body: Mapping[str, Any]) -> None:
    """Raise ValueError (Docker's message) for a wrong type or an unknown mode."""
    _check(dict(body), _BODY, ROOT)
    _check_modes(body)


_RESOURCES = ("CpuShares", "Memory", "CgroupParent", "BlkioWeight", "BlkioWeightDevice",
              "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
              "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
              "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Devices",
              "DeviceCgroupRules", "DeviceRequests", "KernelMemoryTCP", "MemoryReservation",
              "MemorySwap", "MemorySwappiness", "NanoCpus", "OomKillDisable", "Init",
              "PidsLimit", "Ulimits", "CpuCount", "CpuPercent", "IOMaximumIOps",
              "IOMaximumBandwidth")
_UPDATE: dict[str, Any] = {**{k: _HOST[k] for k in _RESOURCES},
                           "RestartPolicy": _HOST["RestartPolicy"]}
_EXEC: dict[str, Any] = {
    "User": "string", "Privileged": "bool", "Tty": "bool", "ConsoleSize": ("[]", "uint"),
    "AttachStdin": "bool", "AttachStderr": "bool", "AttachStdout": "bool",
    "Detach": "bool", "DetachKeys": "string", "Env": ("[]", "string"),
    "WorkingDir": "string", "Cmd": ("[]", "string"),
}


def check_update(body: Mapping[str, Any]) -> None:
    """``POST /containers/{id}/update``: moby's UpdateConfig (Resources, RestartPolicy)."""
    _check(dict(body), _UPDATE, "UpdateConfig")


def check_exec(body: Mapping[str, Any]) -> None:
    """``POST /containers/{id}/exec``: moby's ExecConfig."""
    _check(dict(body), _EXEC, "ExecConfig")
