"""Docker's container Config + HostConfig + the image config -> an OCI config.json.

Pure: every input is data (API JSON shapes, the image's ``config`` object, the
contents of the rootfs' /etc/passwd and /etc/group); nothing here touches the host
except ``docker_default_spec``'s reading of host facts (cgroup version, masked paths).
"""

from __future__ import annotations

import copy
import json
import os
import shlex
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidParameter

INIT_PATH = "/sbin/docker-init"
# Debian's tini package: the static build first, since the image may have no libc
# (Docker's docker-init is tini-static too).
HOST_INITS = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/bin/tini")


def host_init() -> str:
    return next((p for p in HOST_INITS if os.path.exists(p)), HOST_INITS[-1])
DEFAULT_STOP_SIGNAL = "SIGTERM"

# Docker's ulimit names -> OCI rlimit types.
_ULIMITS = {
    "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
    "fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
    "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
    "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
    "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
    "as": "RLIMIT_AS",
}


@dataclass
class SpecInputs:
    container_id: str
    config: dict[str, Any]
    host_config: dict[str, Any]
    image_config: dict[str, Any] = field(default_factory=dict)
    rootfs: str = "rootfs"
    container_dir: str | None = None  # holds hosts, hostname, resolv.conf
    passwd: str | None = None  # contents of the rootfs' /etc/passwd
    group: str | None = None
    netns_path: str | None = None  # bridge networking: the netns the network module made
    cgroup_parent: str = "dockyard"
    seccomp_profile: dict[str, Any] | None = None  # parsed file for seccomp=<file>
    init_path: str | None = None  # host binary for Init; default host_init()
    #: resolved mount points (volumes with their host paths); None: parse the HostConfig
    mounts: list[dict[str, Any]] | None = None


# --- command, env, user ---------------------------------------------------------------


def resolve_command(config: dict[str, Any], image: dict[str, Any]) -> list[str]:
    """Docker's rules: a user Entrypoint replaces the image's and drops the image Cmd;
    ``--entrypoint ""`` clears it; a user Cmd replaces the image Cmd; args =
    entrypoint + cmd."""
    entrypoint = config.get("Entrypoint")
    cmd = config.get("Cmd")
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint] if entrypoint else []
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    if entrypoint is None:
        entrypoint = image.get("Entrypoint") or []
        if not cmd:
            cmd = image.get("Cmd") or []
    elif not cmd:
        # An explicit entrypoint (even an empty one) resets the image's Cmd.
        cmd = []
    if len(entrypoint) == 1 and entrypoint[0] == "" and not cmd:
        entrypoint = []
    args = [*entrypoint, *cmd]
    if entrypoint == [""]:
        args = list(cmd)
    if not args:
        raise InvalidParameter("No command specified")
    return args


def merge_env(image_env: list[str] | None, user_env: list[str] | None) -> list[str]:
    """Image environment, then the user's; a later NAME replaces the earlier one in place."""
    out: dict[str, str] = {}
    for item in [*(image_env or []), *(user_env or [])]:
        name, sep, value = item.partition("=")
        if not name:
            raise InvalidParameter(f"invalid environment variable: {item}")
        if not sep:
            continue  # a bare NAME without a value is dropped, as Docker does for -e NAME unset
        out[name] = value
    return [f"{k}={v}" for k, v in out.items()]


def _parse_db(text: str | None, fields: int) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < fields:
            continue
        rows.append(parts)
    return rows


def _id(value: str) -> int | None:
    if value.isdigit():
        number = int(value)
        if number < 2**32 - 1:
            return number
        raise InvalidParameter(f"uid/gid {value} out of range")
    return None


def resolve_user(user: str, passwd: str | None, group: str | None
                 ) -> tuple[int, int, list[int]]:
    """``user`` / ``uid`` / ``user:group`` / ``uid:gid`` -> (uid, gid, additional gids),
    names looked up in the container's own files, as runc's user package does."""
    user = user or ""
    name, _, grp = user.partition(":")
    users = _parse_db(passwd, 7)
    groups = _parse_db(group, 4)
    uid = gid = 0
    home_name = None
    if not name:
        uid, gid = 0, 0
        home_name = "root"
        for row in users:
            if row[2] == "0":
                home_name = row[0]
                break
    else:
        number = _id(name)
        entry = next((r for r in users if (r[0] == name if number is None else r[2] == name)),
                     None)
        if entry is not None:
            uid = int(entry[2]) if entry[2].isdigit() else 0
            gid = int(entry[3]) if entry[3].isdigit() else 0
            home_name = entry[0]
        elif number is not None:
            uid, gid = number, 0
        else:
            raise InvalidParameter(
                f"unable to find user {name}: no matching entries in passwd file")
    if grp:
        number = _id(grp)
        entry = next((r for r in groups if (r[0] == grp if number is None else r[2] == grp)),
                     None)
        if entry is not None and entry[2].isdigit():
            gid = int(entry[2])
        elif number is not None:
            gid = number
        else:
            raise InvalidParameter(
                f"unable to find group {grp}: no matching entries in group file")
    extra: list[int] = []
    if home_name is not None and not grp:
        for row in groups:
            members = [m for m in row[3].split(",") if m]
            if home_name in members and row[2].isdigit() and int(row[2]) != gid:
                extra.append(int(row[2]))
    return uid, gid, extra


# --- the spec -------------------------------------------------------------------------


def parse_bytes(value: Any, where: str) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    units = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    mult = 1
    if text and text[-1] in units:
        mult = units[text[-1]]
        text = text[:-1]
    elif text.endswith(("kb", "mb", "gb")):
        mult = units[text[-2]]
        text = text[:-2]
    try:
        return int(float(text) * mult)
    except ValueError:
        raise InvalidParameter(f"{where}: invalid size {value!r}") from None


def generate(inp: SpecInputs) -> dict[str, Any]:
    from dockyard.runtime.defaults import DEFAULT_SHM_SIZE, docker_default_spec

    cfg, hc, img = inp.config, inp.host_config or {}, inp.image_config or {}
    security = _security_opts(hc.get("SecurityOpt") or [])
    privileged = bool(hc.get("Privileged"))
    shm = hc.get("ShmSize") or DEFAULT_SHM_SIZE
    hostname = cfg.get("Hostname") or inp.container_id[:12]
    network_mode = hc.get("NetworkMode") or "default"
    if network_mode == "host":
        hostname = cfg.get("Hostname") or os.uname().nodename
    spec = docker_default_spec(
        resolve_command(cfg, img), terminal=bool(cfg.get("Tty")), rootfs=inp.rootfs,
        hostname=hostname, shm_size=int(shm), privileged=privileged,
        readonly_rootfs=bool(hc.get("ReadonlyRootfs")),
        seccomp=security.get("seccomp") != "unconfined",
    )
    process = spec["process"]
    linux = spec["linux"]

    if hc.get("Init"):
        process["args"] = [INIT_PATH, "--", *process["args"]]

    # Environment: Docker's PATH/HOSTNAME/TERM, then the image's, then the user's.
    env = merge_env(process["env"], img.get("Env"))
    process["env"] = merge_env(env, cfg.get("Env"))
    process["cwd"] = cfg.get("WorkingDir") or img.get("WorkingDir") or "/"
    if not process["cwd"].startswith("/"):
        raise InvalidParameter(
            f"the working directory '{process['cwd']}' is invalid, it needs to be an "
            "absolute path")
    uid, gid, extra = resolve_user(cfg.get("User") if cfg.get("User") is not None
                                   else img.get("User", ""), inp.passwd, inp.group)
    process["user"] = {"uid": uid, "gid": gid}
    groups = list(extra)
    for name in hc.get("GroupAdd") or []:
        number = _id(str(name))
        if number is None:
            row = next((r for r in _parse_db(inp.group, 4) if r[0] == name), None)
            if row is None:
                raise InvalidParameter(f"unable to find group {name}")
            number = int(row[2])
        groups.append(number)
    if groups:
        process["user"]["additionalGids"] = groups
    if cfg.get("Domainname"):
        spec["domainname"] = cfg["Domainname"]
    if network_mode == "host":
        spec.pop("hostname", None)

    labels = cfg.get("Labels") or {}
    if labels:
        spec["annotations"] = dict(labels)

    _capabilities(process, hc, privileged)
    if security.get("no-new-privileges") in ("", "true", True):
        process["noNewPrivileges"] = True
    if "apparmor" in security and security["apparmor"] != "unconfined":
        process["apparmorProfile"] = security["apparmor"]
    if security.get("seccomp") not in (None, "unconfined") and not privileged:
        from dockyard.runtime.seccomp import docker_to_oci

        if inp.seccomp_profile is None:
            raise InvalidParameter("seccomp profile file was not loaded")
        linux["seccomp"] = docker_to_oci(inp.seccomp_profile,
                                         process["capabilities"]["bounding"])
    if hc.get("OomScoreAdj"):
        process["oomScoreAdj"] = int(hc["OomScoreAdj"])
    rlimits = _rlimits(hc.get("Ulimits") or [])
    if rlimits:
        process["rlimits"] = rlimits

    _namespaces(linux, network_mode, inp.netns_path, hc)
    sysctls = dict(linux.get("sysctl", {}))
    if network_mode == "host":
        sysctls = {k: v for k, v in sysctls.items() if not k.startswith("net.")}
    sysctls.update(hc.get("Sysctls") or {})
    linux["sysctl"] = sysctls
    linux["resources"] = _resources(linux["resources"], hc)
    _devices(linux, hc.get("Devices") or [], privileged)
    # Absolute, as dockerd's cgroupfs driver (/docker/<id>): the same place whatever
    # cgroup the daemon or shim runs in.
    parent = (hc.get("CgroupParent") or inp.cgroup_parent).strip("/")
    linux["cgroupsPath"] = f"/{parent}/{inp.container_id}" if parent else f"/{inp.container_id}"

    spec["mounts"] = _mounts(spec["mounts"], inp, hc, network_mode)
    return spec


def _security_opts(opts: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for opt in opts:
        if opt == "no-new-privileges":
            out["no-new-privileges"] = True
            continue
        key, sep, value = opt.partition("=" if "=" in opt else ":")
        if not sep:
            raise InvalidParameter(f"Invalid --security-opt: {opt!r}")
        if key not in ("seccomp", "apparmor", "no-new-privileges", "label"):
            raise InvalidParameter(f"Invalid --security-opt: {opt!r}")
        out[key] = value
    return out


def _norm_cap(name: str) -> str:
    name = name.upper()
    return name if name.startswith("CAP_") or name == "ALL" else f"CAP_{name}"


def _capabilities(process: dict[str, Any], hc: dict[str, Any], privileged: bool) -> None:
    from dockyard.runtime.defaults import all_capabilities

    caps = list(process["capabilities"]["bounding"])
    if not privileged:
        adds = [_norm_cap(c) for c in hc.get("CapAdd") or []]
        drops = [_norm_cap(c) for c in hc.get("CapDrop") or []]
        if "ALL" in drops:
            caps = []
        if "ALL" in adds:
            caps = all_capabilities()
        known = set(all_capabilities())
        for cap in adds:
            if cap != "ALL":
                if cap not in known:
                    raise InvalidParameter(f"unknown capability: \"{cap}\"")
                if cap not in caps:
                    caps.append(cap)
        for cap in drops:
            if cap != "ALL" and cap in caps and cap not in adds:
                caps.remove(cap)
    process["capabilities"] = {"bounding": list(caps), "effective": list(caps),
                               "permitted": list(caps)}


def _rlimits(ulimits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in ulimits:
        name = item.get("Name", "")
        if name not in _ULIMITS:
            raise InvalidParameter(f"invalid ulimit type: {name}")
        out.append({"type": _ULIMITS[name], "hard": int(item.get("Hard", 0)),
                    "soft": int(item.get("Soft", 0))})
    return out


def _namespaces(linux: dict[str, Any], network_mode: str, netns: str | None,
                hc: dict[str, Any]) -> None:
    namespaces = []
    for ns in linux["namespaces"]:
        kind = ns["type"]
        if kind == "network":
            if network_mode == "host":
                continue
            if netns:
                ns = {"type": "network", "path": netns}
        if kind == "pid" and hc.get("PidMode") == "host":
            continue
        if kind == "ipc" and hc.get("IpcMode") == "host":
            continue
        if kind == "uts" and (hc.get("UTSMode") == "host" or network_mode == "host"):
            continue
        namespaces.append(ns)
    linux["namespaces"] = namespaces


def _resources(base: dict[str, Any], hc: dict[str, Any]) -> dict[str, Any]:
    res = copy.deepcopy(base)
    memory: dict[str, Any] = {}
    if hc.get("Memory"):
        memory["limit"] = int(hc["Memory"])
        swap = hc.get("MemorySwap")
        if swap is None or swap == 0:
            memory["swap"] = 2 * int(hc["Memory"])  # Docker: swap defaults to the limit again
        elif swap != -1:
            if int(swap) < int(hc["Memory"]):
                raise InvalidParameter(
                    "Minimum memoryswap limit should be larger than memory limit, see usage")
            memory["swap"] = int(swap)
        else:
            memory["swap"] = -1
    if hc.get("MemoryReservation"):
        memory["reservation"] = int(hc["MemoryReservation"])
    if hc.get("OomKillDisable"):
        memory["disableOOMKiller"] = True
    if memory:
        res["memory"] = memory
    cpu: dict[str, Any] = {}
    if hc.get("NanoCpus"):
        if hc.get("CpuQuota") or hc.get("CpuPeriod"):
            raise InvalidParameter(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set")
        cpu["period"] = 100000
        cpu["quota"] = int(hc["NanoCpus"]) * 100000 // 10**9
    if hc.get("CpuQuota"):
        cpu["quota"] = int(hc["CpuQuota"])
    if hc.get("CpuPeriod"):
        cpu["period"] = int(hc["CpuPeriod"])
    if hc.get("CpuShares"):
        cpu["shares"] = int(hc["CpuShares"])
    if hc.get("CpusetCpus"):
        cpu["cpus"] = hc["CpusetCpus"]
    if hc.get("CpusetMems"):
        cpu["mems"] = hc["CpusetMems"]
    if cpu:
        res["cpu"] = cpu
    if hc.get("PidsLimit") and int(hc["PidsLimit"]) > 0:
        res["pids"] = {"limit": int(hc["PidsLimit"])}
    return res


def _devices(linux: dict[str, Any], devices: list[dict[str, Any]], privileged: bool) -> None:
    out = []
    rules = linux["resources"].setdefault("devices", [])
    for dev in devices:
        host = dev.get("PathOnHost", "")
        inside = dev.get("PathInContainer") or host
        perms = dev.get("CgroupPermissions") or "rwm"
        try:
            st = os.stat(host)
        except OSError:
            raise InvalidParameter(f"error gathering device information while adding "
                                   f"custom device \"{host}\": no such file or directory"
                                   ) from None
        import stat as _stat

        if _stat.S_ISCHR(st.st_mode):
            kind = "c"
        elif _stat.S_ISBLK(st.st_mode):
            kind = "b"
        else:
            raise InvalidParameter(f"{host} is not a device")
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        out.append({"path": inside, "type": kind, "major": major, "minor": minor,
                    "fileMode": _stat.S_IMODE(st.st_mode), "uid": 0, "gid": 0})
        if not privileged:
            rules.append({"allow": True, "type": kind, "major": major, "minor": minor,
                          "access": perms})
    if out:
        linux["devices"] = out


def parse_bind(spec: str) -> dict[str, Any]:
    """``/host:/ctr[:opts]`` or ``volume:/ctr[:opts]`` -> a mount point
    (see volume.mountspec)."""
    from dockyard.volume.mountspec import parse_bind as _parse

    from .volumes import translated

    with translated():
        return _parse(spec)


def user_mounts(hc: dict[str, Any]) -> list[dict[str, Any]]:
    """Binds, Mounts and Tmpfs of a HostConfig, validated, as mount points (volumes not
    resolved yet: the engine's volume service does that at create)."""
    from dockyard.volume.mountspec import plan

    from .volumes import translated

    with translated():
        return plan(hc)


def _mounts(base: list[dict[str, Any]], inp: SpecInputs, hc: dict[str, Any],
            network_mode: str) -> list[dict[str, Any]]:
    user = inp.mounts if inp.mounts is not None else user_mounts(hc)
    targets = {m["Destination"] for m in user}
    mounts = [m for m in base if m["destination"] not in targets]
    ours = _our_mounts(inp, hc, user, targets)
    # Parents before children (Docker sorts by depth): /etc/hosts lands on a volume at /etc.
    return mounts + sorted(ours, key=lambda m: m["destination"].rstrip("/").count("/"))


def _our_mounts(inp: SpecInputs, hc: dict[str, Any], user: list[dict[str, Any]],
                targets: set[str]) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = []
    if hc.get("Init"):
        mounts.append({"destination": INIT_PATH, "type": "bind",
                       "source": inp.init_path or host_init(),
                       "options": ["rbind", "ro", "nosuid", "nodev"]})
    if inp.container_dir:
        for name in ("resolv.conf", "hostname", "hosts"):
            dest = f"/etc/{name}"
            if dest in targets:
                continue
            options = ["rbind", "rprivate"]
            if hc.get("ReadonlyRootfs"):
                options.append("ro")
            mounts.append({"destination": dest, "type": "bind",
                           "source": os.path.join(inp.container_dir, name),
                           "options": options})
    for m in user:
        if m["Type"] == "volume" and not m.get("Source"):
            continue  # not resolved to a host path (only pure callers get here)
        if m["Type"] in ("bind", "volume"):
            options = ["rbind", m["Propagation"] or "rprivate"]
            if not m["RW"]:
                options.append("ro")
            mounts.append({"destination": m["Destination"], "type": "bind",
                           "source": m["Source"], "options": options})
        else:
            options = ["nosuid", "nodev", "noexec"]
            options += [o for o in m["Mode"].split(",") if o]
            if not m["RW"]:
                options.append("ro")
            mounts.append({"destination": m["Destination"], "type": "tmpfs",
                           "source": "tmpfs", "options": options})
    return mounts


def dumps(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=1)
