"""config.json (OCI Runtime Spec 1.2, Linux) parsed once into frozen dataclasses.

Validation happens here, up front, so that nothing is created for a config that
cannot run. Unknown properties are ignored, as the spec requires. Errors name the
field: `process.cwd: must be an absolute path`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import ConfigError
from .linux.constants import NAMESPACES
from .records import factory, record

# Linux resource numbers (asm-generic/resource.h); Python's `resource` lacks some.
RLIMITS: dict[str, int] = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
HOOK_KINDS = (
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
)
PROPAGATIONS = ("shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate",
                "runbindable")


@record
class User:
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()


@record
class Rlimit:
    type: str
    soft: int
    hard: int

    @property
    def resource(self) -> int:
        return RLIMITS[self.type]


@record
class Capabilities:
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


@record
class Process:
    args: tuple[str, ...]
    cwd: str
    env: tuple[str, ...] = ()
    terminal: bool = False
    console_size: tuple[int, int] | None = None  # (height, width)
    user: User = factory(User)
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    apparmor_profile: str = ""
    selinux_label: str = ""

    def env_value(self, name: str) -> str | None:
        prefix = name + "="
        for entry in reversed(self.env):
            if entry.startswith(prefix):
                return entry[len(prefix):]
        return None


@record
class Mount:
    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()


@record
class Hook:
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


@record
class Namespace:
    type: str
    path: str = ""


@record
class IDMapping:
    container_id: int
    host_id: int
    size: int


@record
class Device:
    type: str
    path: str
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@record
class Linux:
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    devices: tuple[Device, ...] = ()
    cgroups_path: str = ""
    resources: dict[str, Any] = factory(dict)
    sysctl: dict[str, str] = factory(dict)
    seccomp: dict[str, Any] | None = None
    rootfs_propagation: str = ""
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    time_offsets: dict[str, dict[str, int]] = factory(dict)

    def namespace(self, ns_type: str) -> Namespace | None:
        for namespace in self.namespaces:
            if namespace.type == ns_type:
                return namespace
        return None

    def new_namespace(self, ns_type: str) -> bool:
        namespace = self.namespace(ns_type)
        return namespace is not None and not namespace.path


@record
class Config:
    oci_version: str
    root_path: str  # absolute
    root_readonly: bool
    process: Process | None
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[Mount, ...] = ()
    hooks: dict[str, tuple[Hook, ...]] = factory(dict)
    linux: Linux = factory(Linux)
    annotations: dict[str, str] = factory(dict)


# --- typed accessors: each names the field it rejects -------------------------------


def _obj(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(name, "must be an object")
    return value


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(name, "must be an array")
    return value


def _str(value: Any, name: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise ConfigError(name, "must be a string")
    return value


def _int(value: Any, name: str, default: int | None = None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, "must be an integer")
    return value


def _uint(value: Any, name: str, default: int = 0) -> int:
    number = _int(value, name, default)
    assert number is not None
    if number < 0:
        raise ConfigError(name, "must not be negative")
    return number


def _bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ConfigError(name, "must be true or false")
    return value


def _strings(value: Any, name: str) -> tuple[str, ...]:
    return tuple(_str(item, f"{name}[{i}]") for i, item in enumerate(_list(value, name)))


def _absolute(path: str, name: str) -> str:
    if not path.startswith("/"):
        raise ConfigError(name, f"must be an absolute path, got {path!r}")
    return path


# --- sections -----------------------------------------------------------------------


def _parse_user(raw: Any) -> User:
    data = _obj(raw, "process.user")
    umask = _int(data.get("umask"), "process.user.umask")
    if umask is not None and not 0 <= umask <= 0o777:
        raise ConfigError("process.user.umask", "must be between 0 and 0777")
    gids = tuple(
        _uint(gid, f"process.user.additionalGids[{i}]")
        for i, gid in enumerate(_list(data.get("additionalGids"), "process.user.additionalGids"))
    )
    return User(
        uid=_uint(data.get("uid"), "process.user.uid"),
        gid=_uint(data.get("gid"), "process.user.gid"),
        umask=umask,
        additional_gids=gids,
    )


def _parse_rlimits(raw: Any) -> tuple[Rlimit, ...]:
    rlimits: list[Rlimit] = []
    seen: set[str] = set()
    for i, item in enumerate(_list(raw, "process.rlimits")):
        name = f"process.rlimits[{i}]"
        data = _obj(item, name)
        kind = _str(data.get("type"), f"{name}.type")
        if kind not in RLIMITS:
            raise ConfigError(f"{name}.type", f"unknown rlimit {kind!r}")
        if kind in seen:
            raise ConfigError(f"{name}.type", f"duplicate rlimit {kind!r}")
        seen.add(kind)
        soft = _uint(data.get("soft"), f"{name}.soft")
        hard = _uint(data.get("hard"), f"{name}.hard")
        if soft > hard:
            raise ConfigError(name, f"soft limit {soft} exceeds hard limit {hard}")
        rlimits.append(Rlimit(kind, soft, hard))
    return tuple(rlimits)


def _parse_capabilities(raw: Any) -> Capabilities | None:
    if raw is None:
        return None
    data = _obj(raw, "process.capabilities")
    return Capabilities(
        **{
            key: _strings(data.get(key), f"process.capabilities.{key}")
            for key in ("bounding", "effective", "inheritable", "permitted", "ambient")
        }
    )


def parse_process(raw: Any, name: str = "process") -> Process:
    data = _obj(raw, name)
    args = _strings(data.get("args"), f"{name}.args")
    if not args:
        raise ConfigError(f"{name}.args", "must name the program to run")
    if "cwd" not in data:
        raise ConfigError(f"{name}.cwd", "is required")
    cwd = _absolute(_str(data.get("cwd"), f"{name}.cwd"), f"{name}.cwd")
    console_size = None
    if data.get("consoleSize") is not None:
        size = _obj(data["consoleSize"], f"{name}.consoleSize")
        console_size = (
            _uint(size.get("height"), f"{name}.consoleSize.height"),
            _uint(size.get("width"), f"{name}.consoleSize.width"),
        )
    oom = _int(data.get("oomScoreAdj"), f"{name}.oomScoreAdj")
    if oom is not None and not -1000 <= oom <= 1000:
        raise ConfigError(f"{name}.oomScoreAdj", "must be between -1000 and 1000")
    env = _strings(data.get("env"), f"{name}.env")
    for i, entry in enumerate(env):
        if "=" not in entry:
            raise ConfigError(f"{name}.env[{i}]", f"must be NAME=VALUE, got {entry!r}")
    return Process(
        args=args,
        cwd=cwd,
        env=env,
        terminal=_bool(data.get("terminal"), f"{name}.terminal"),
        console_size=console_size,
        user=_parse_user(data.get("user")),
        capabilities=_parse_capabilities(data.get("capabilities")),
        rlimits=_parse_rlimits(data.get("rlimits")),
        no_new_privileges=_bool(data.get("noNewPrivileges"), f"{name}.noNewPrivileges"),
        oom_score_adj=oom,
        apparmor_profile=_str(data.get("apparmorProfile"), f"{name}.apparmorProfile"),
        selinux_label=_str(data.get("selinuxLabel"), f"{name}.selinuxLabel"),
    )


def _parse_mounts(raw: Any) -> tuple[Mount, ...]:
    mounts = []
    for i, item in enumerate(_list(raw, "mounts")):
        name = f"mounts[{i}]"
        data = _obj(item, name)
        destination = _str(data.get("destination"), f"{name}.destination")
        if not destination:
            raise ConfigError(f"{name}.destination", "is required")
        # Relative destinations are deprecated and mean relative to "/".
        if not destination.startswith("/"):
            destination = "/" + destination
        mounts.append(
            Mount(
                destination=os.path.normpath(destination),
                type=_str(data.get("type"), f"{name}.type"),
                source=_str(data.get("source"), f"{name}.source"),
                options=_strings(data.get("options"), f"{name}.options"),
            )
        )
    return tuple(mounts)


def _parse_hooks(raw: Any) -> dict[str, tuple[Hook, ...]]:
    data = _obj(raw, "hooks")
    hooks: dict[str, tuple[Hook, ...]] = {}
    for kind in HOOK_KINDS:
        entries = []
        for i, item in enumerate(_list(data.get(kind), f"hooks.{kind}")):
            name = f"hooks.{kind}[{i}]"
            hook = _obj(item, name)
            path = _absolute(_str(hook.get("path"), f"{name}.path"), f"{name}.path")
            timeout = _int(hook.get("timeout"), f"{name}.timeout")
            env = _strings(hook.get("env"), f"{name}.env")
            for j, entry in enumerate(env):
                if "=" not in entry:
                    raise ConfigError(f"{name}.env[{j}]", f"must be NAME=VALUE, got {entry!r}")
            if timeout is not None and timeout <= 0:
                raise ConfigError(f"{name}.timeout", "must be greater than zero")
            entries.append(
                Hook(
                    path=path,
                    args=_strings(hook.get("args"), f"{name}.args"),
                    env=env,
                    timeout=timeout,
                )
            )
        hooks[kind] = tuple(entries)
    return hooks


def _parse_namespaces(raw: Any) -> tuple[Namespace, ...]:
    namespaces = []
    seen: set[str] = set()
    for i, item in enumerate(_list(raw, "linux.namespaces")):
        name = f"linux.namespaces[{i}]"
        data = _obj(item, name)
        kind = _str(data.get("type"), f"{name}.type")
        if kind not in NAMESPACES:
            raise ConfigError(f"{name}.type", f"unknown namespace type {kind!r}")
        if kind in seen:
            raise ConfigError(f"{name}.type", f"duplicate namespace {kind!r}")
        seen.add(kind)
        path = _str(data.get("path"), f"{name}.path")
        if path:
            _absolute(path, f"{name}.path")
        namespaces.append(Namespace(kind, path))
    return tuple(namespaces)


def _parse_mappings(raw: Any, name: str) -> tuple[IDMapping, ...]:
    mappings = []
    for i, item in enumerate(_list(raw, name)):
        data = _obj(item, f"{name}[{i}]")
        size = _uint(data.get("size"), f"{name}[{i}].size")
        if size == 0:
            raise ConfigError(f"{name}[{i}].size", "must be greater than zero")
        mappings.append(
            IDMapping(
                _uint(data.get("containerID"), f"{name}[{i}].containerID"),
                _uint(data.get("hostID"), f"{name}[{i}].hostID"),
                size,
            )
        )
    return tuple(mappings)


def _parse_devices(raw: Any) -> tuple[Device, ...]:
    devices = []
    for i, item in enumerate(_list(raw, "linux.devices")):
        name = f"linux.devices[{i}]"
        data = _obj(item, name)
        kind = _str(data.get("type"), f"{name}.type")
        if kind not in ("c", "b", "u", "p"):
            raise ConfigError(f"{name}.type", f"must be c, b, u or p, got {kind!r}")
        path = _absolute(_str(data.get("path"), f"{name}.path"), f"{name}.path")
        file_mode = _int(data.get("fileMode"), f"{name}.fileMode")
        devices.append(
            Device(
                type=kind,
                path=os.path.normpath(path),
                major=_uint(data.get("major"), f"{name}.major"),
                minor=_uint(data.get("minor"), f"{name}.minor"),
                file_mode=file_mode,
                uid=_int(data.get("uid"), f"{name}.uid"),
                gid=_int(data.get("gid"), f"{name}.gid"),
            )
        )
    return tuple(devices)


def _parse_linux(raw: Any) -> Linux:
    data = _obj(raw, "linux")
    namespaces = _parse_namespaces(data.get("namespaces"))
    uid_mappings = _parse_mappings(data.get("uidMappings"), "linux.uidMappings")
    gid_mappings = _parse_mappings(data.get("gidMappings"), "linux.gidMappings")
    kinds = {ns.type: ns for ns in namespaces}
    user_ns = kinds.get("user")
    if (uid_mappings or gid_mappings) and not (user_ns and not user_ns.path):
        field = "linux.uidMappings" if uid_mappings else "linux.gidMappings"
        raise ConfigError(field, "mappings need a new user namespace")
    if user_ns and not user_ns.path and not (uid_mappings and gid_mappings):
        raise ConfigError("linux.uidMappings", "a new user namespace needs uid and gid mappings")
    sysctl = {
        _str(key, "linux.sysctl"): _str(value, f"linux.sysctl.{key}")
        for key, value in _obj(data.get("sysctl"), "linux.sysctl").items()
    }
    propagation = _str(data.get("rootfsPropagation"), "linux.rootfsPropagation")
    if propagation and propagation not in PROPAGATIONS:
        raise ConfigError("linux.rootfsPropagation", f"unknown propagation {propagation!r}")
    seccomp = data.get("seccomp")
    if seccomp is not None:
        seccomp = _obj(seccomp, "linux.seccomp")
    time_offsets = _obj(data.get("timeOffsets"), "linux.timeOffsets")
    if time_offsets and not (kinds.get("time") and not kinds["time"].path):
        raise ConfigError("linux.timeOffsets", "needs a new time namespace")
    return Linux(
        namespaces=namespaces,
        uid_mappings=uid_mappings,
        gid_mappings=gid_mappings,
        devices=_parse_devices(data.get("devices")),
        cgroups_path=_str(data.get("cgroupsPath"), "linux.cgroupsPath"),
        resources=_obj(data.get("resources"), "linux.resources"),
        sysctl=sysctl,
        seccomp=seccomp,
        rootfs_propagation=propagation,
        masked_paths=tuple(
            _absolute(p, "linux.maskedPaths") for p in _strings(data.get("maskedPaths"),
                                                                "linux.maskedPaths")
        ),
        readonly_paths=tuple(
            _absolute(p, "linux.readonlyPaths") for p in _strings(data.get("readonlyPaths"),
                                                                  "linux.readonlyPaths")
        ),
        time_offsets=time_offsets,
    )


def _check_sysctls(linux: Linux) -> None:
    """Only namespaced sysctls, and only with the namespace they belong to (as runc)."""
    ipc_keys = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
    for key in linux.sysctl:
        name = f"linux.sysctl.{key}"
        if key in ipc_keys or key.startswith("fs.mqueue."):
            if not linux.new_namespace("ipc"):
                raise ConfigError(name, "needs a new ipc namespace")
        elif key.startswith("net."):
            if linux.namespace("network") is None:
                raise ConfigError(name, "needs a network namespace of the container's own")
        elif key == "kernel.domainname":
            if linux.namespace("uts") is None:
                raise ConfigError(name, "needs a uts namespace")
        else:
            raise ConfigError(name, "is not a namespaced sysctl and cannot be set per container")


def parse_config(raw: Any, bundle: str) -> Config:
    """Validate and convert a decoded config.json; `bundle` is the bundle's absolute path."""
    data = _obj(raw, "config.json")
    version = _str(data.get("ociVersion"), "ociVersion")
    if not version:
        raise ConfigError("ociVersion", "is required")
    if not version.startswith("1."):
        raise ConfigError("ociVersion", f"unsupported version {version!r}")
    root = _obj(data.get("root"), "root")
    root_path = _str(root.get("path"), "root.path")
    if not root_path:
        raise ConfigError("root.path", "is required")
    root_path = os.path.normpath(os.path.join(bundle, root_path))
    if not os.path.isdir(root_path):
        raise ConfigError("root.path", f"{root_path} does not exist or is not a directory")
    process = parse_process(data["process"]) if data.get("process") is not None else None
    linux = _parse_linux(data.get("linux"))
    hostname = _str(data.get("hostname"), "hostname")
    domainname = _str(data.get("domainname"), "domainname")
    if (hostname or domainname) and linux.namespace("uts") is None:
        raise ConfigError("hostname", "setting a hostname needs a uts namespace")
    if linux.namespace("mount") is None:
        raise ConfigError("linux.namespaces", "a mount namespace is required")
    _check_sysctls(linux)
    annotations = {
        _str(k, "annotations"): _str(v, f"annotations.{k}")
        for k, v in _obj(data.get("annotations"), "annotations").items()
    }
    return Config(
        oci_version=version,
        root_path=root_path,
        root_readonly=_bool(root.get("readonly"), "root.readonly"),
        process=process,
        hostname=hostname,
        domainname=domainname,
        mounts=_parse_mounts(data.get("mounts")),
        hooks=_parse_hooks(data.get("hooks")),
        linux=linux,
        annotations=annotations,
    )


def load_bundle(bundle: str) -> tuple[Config, dict[str, Any]]:
    """Read `<bundle>/config.json`; returns the parsed config and the raw document."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as file:
            raw = json.load(file)
    except FileNotFoundError:
        raise ConfigError("config.json", f"{path} does not exist") from None
    except json.JSONDecodeError as err:
        raise ConfigError("config.json", f"{path} is not valid JSON: {err}") from None
    return parse_config(raw, bundle), raw
