"""``run`` and ``create``: docker's flags mapped onto the create body (Config, HostConfig,
NetworkingConfig), docker's flow (create; on ``No such image`` pull and create again;
attach before start; start; wait) and its exit codes (125 daemon/CLI, 126 cannot invoke,
127 not found, else the container's status)."""

from __future__ import annotations

# _signal, not signal: signal.py wraps numbers in enums (enum costs ~4 ms of start-up);
# json, re and threading are imported where they are needed, also for start-up.
import _signal
import os

from ..context import CLIError, Context
from ..flags import Parsed
from .common import is_terminal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_SIZE = r"^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$"
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


class ConfigError(CLIError):
    """A flag's value is malformed: docker's message, exit 125."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 125)


def ram_in_bytes(value: str, flag: str) -> int:
    """go-units RAMInBytes: ``512m`` → 536870912 (binary units, optional ``b``)."""
    import re

    m = re.match(_SIZE, value.strip())
    if not m:
        bad = re.match(r"^\d+(?:\.\d+)? ?(.*)$", value.strip())
        why = f"invalid suffix: '{bad.group(1)}'" if bad else f"invalid size: '{value}'"
        raise ConfigError(f'invalid argument "{value}" for "{flag}" flag: {why}')
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def _flag_error(value: str, flag: str, why: str) -> ConfigError:
    return ConfigError(f'invalid argument "{value}" for "{flag}" flag: {why}')


def parse_env(values: list[str], env_files: list[str]) -> list[str]:
    """``--env-file`` lines first, then ``-e``; ``NAME`` alone takes the caller's value."""
    out: list[str] = []
    for path in env_files:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise CLIError(f"open {path}: {(exc.strerror or '').lower()}", 125) from None
        for raw in text.splitlines():
            line = raw.lstrip()
            if not line or line.startswith("#"):
                continue
            name, eq, value = line.partition("=")
            if not name:
                raise CLIError(f"no variable name on line '{raw}'", 125)
            if " " in name or "\t" in name:
                raise CLIError(f"variable '{name}' contains whitespaces", 125)
            if eq:
                out.append(f"{name}={value}")
            elif name in os.environ:
                out.append(f"{name}={os.environ[name]}")
    for item in values:
        name, eq, _value = item.partition("=")
        if not name:
            raise ConfigError(f'invalid argument "{item}" for "-e, --env" flag: '
                              "invalid environment variable: " + item)
        if not eq and name in os.environ:
            out.append(f"{name}={os.environ[name]}")
        else:
            out.append(item)
    return out


def parse_labels(values: list[str], files: list[str]) -> dict[str, str]:
    items: list[str] = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                items += [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
        except OSError as exc:
            raise CLIError(f"open {path}: {(exc.strerror or '').lower()}", 125) from None
    items += values
    out: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def parse_ulimit(value: str) -> dict[str, Any]:
    name, eq, limits = value.partition("=")
    if not eq or not name:
        raise _flag_error(value, "--ulimit", f"invalid ulimit argument: {value}")
    soft, colon, hard = limits.partition(":")
    try:
        s = int(soft)
        h = int(hard) if colon else s
    except ValueError:
        raise _flag_error(value, "--ulimit",
                          f"invalid ulimit argument: {value}") from None
    if s > h:
        raise _flag_error(value, "--ulimit", f"ulimit soft limit must be less than or "
                          f"equal to hard limit: {s} > {h}")
    return {"Name": name, "Soft": s, "Hard": h}


def parse_device(value: str) -> dict[str, str]:
    parts = value.split(":")
    src = parts[0]
    dst, perms = src, "rwm"
    if len(parts) == 2:
        if set(parts[1]) <= set("rwm") and parts[1]:
            perms = parts[1]
        else:
            dst = parts[1]
    elif len(parts) == 3:
        dst, perms = parts[1], parts[2]
        if not set(perms) <= set("rwm"):
            raise _flag_error(value, "--device", f"bad mode specified: {perms}")
    elif len(parts) > 3:
        raise _flag_error(value, "--device", f"bad format for path: {value}")
    return {"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms}


def parse_security_opts(values: list[str]) -> list[str]:
    """docker reads a seccomp profile file and sends its (compacted) JSON."""
    out = []
    for opt in values:
        if opt == "no-new-privileges":
            out.append("no-new-privileges=true")
            continue
        key, eq, value = opt.partition("=")
        if not eq:
            key, eq, value = opt.partition(":")
        if not eq:
            raise CLIError(f"Invalid --security-opt: {opt!r}", 125)
        if key == "seccomp" and value != "unconfined":
            import json

            try:
                with open(value, encoding="utf-8") as f:
                    profile = json.load(f)
            except OSError as exc:
                raise CLIError(f"opening seccomp profile ({value}) failed: open {value}: "
                               f"{(exc.strerror or '').lower()}", 125) from None
            except ValueError as exc:
                raise CLIError(f"compacting json for seccomp profile ({value}) failed: "
                               f"{exc}", 125) from None
            out.append("seccomp=" + json.dumps(profile, separators=(",", ":")))
        else:
            out.append(f"{key}={value}")
    return out


def parse_restart(value: str) -> dict[str, Any]:
    name, _, count = value.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure", ""):
        raise CLIError(f"invalid restart policy '{name}'", 125)
    policy: dict[str, Any] = {"Name": name or "no", "MaximumRetryCount": 0}
    if count:
        if name != "on-failure":
            raise CLIError("maximum retry count can only be used with 'on-failure'", 125)
        try:
            policy["MaximumRetryCount"] = int(count)
        except ValueError:
            raise CLIError(f'invalid restart policy format: maximum retry count must be an '
                           f'integer: strconv.Atoi: parsing "{count}": invalid syntax',
                           125) from None
    return policy


def _bool_field(value: str, field: str, key: str, eq: str, val: str) -> bool:
    if not eq:
        return True
    if val.lower() in ("1", "t", "true"):
        return True
    if val.lower() in ("0", "f", "false"):
        return False
    raise _flag_error(value, "--mount", f"invalid value for {key}: {val}")


def parse_mount(value: str) -> dict[str, Any]:
    """``--mount type=bind|volume|tmpfs,source=,target=,...`` as docker's opts.MountOpt
    makes it (csv fields; volume-*, bind-* and tmpfs-* options)."""
    import csv

    mount: dict[str, Any] = {"Type": "volume"}
    tmpfs: dict[str, Any] = {}
    bind: dict[str, Any] = {}
    volume: dict[str, Any] = {}
    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration):
        raise _flag_error(value, "--mount", "invalid mount spec") from None
    for field in fields:
        key, eq, val = field.partition("=")
        key = key.strip().lower()
        if not eq and key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive",
                                  "bind-recursive"):
            raise _flag_error(value, "--mount",
                              f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            mount["Type"] = val
        elif key in ("source", "src"):
            mount["Source"] = val
        elif key in ("target", "dst", "destination"):
            mount["Target"] = val
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = _bool_field(value, field, key, eq, val)
        elif key == "consistency":
            mount["Consistency"] = val
        elif key == "bind-propagation":
            bind["Propagation"] = val
        elif key == "bind-nonrecursive":
            bind["NonRecursive"] = _bool_field(value, field, key, eq, val)
        elif key == "volume-nocopy":
            volume["NoCopy"] = _bool_field(value, field, key, eq, val)
        elif key == "volume-driver":
            volume.setdefault("DriverConfig", {})["Name"] = val
        elif key == "volume-label":
            k, _, v = val.partition("=")
            volume.setdefault("Labels", {})[k] = v
        elif key == "volume-opt":
            k, _, v = val.partition("=")
            volume.setdefault("DriverConfig", {}).setdefault("Options", {})[k] = v
        elif key == "volume-subpath":
            volume["Subpath"] = val
        elif key == "tmpfs-size":
            tmpfs["SizeBytes"] = ram_in_bytes(val, "--mount")
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(val, 8)
            except ValueError:
                raise _flag_error(value, "--mount",
                                  f"invalid value for {key}: {val}") from None
        else:
            raise _flag_error(value, "--mount", f"unexpected key '{key}' in '{field}'")
    if not mount.get("Type"):
        raise _flag_error(value, "--mount", "type is required")
    if "Target" not in mount:
        raise _flag_error(value, "--mount", "target is required")
    for opts, prefix, kind, name in ((volume, "volume", "volume", "VolumeOptions"),
                                     (bind, "bind", "bind", "BindOptions"),
                                     (tmpfs, "tmpfs", "tmpfs", "TmpfsOptions")):
        if opts and mount["Type"] != kind:
            raise _flag_error(value, "--mount", f"cannot mix '{prefix}-*' options with "
                                                f"mount type '{mount['Type']}'")
        if opts:
            mount[name] = opts
    return mount


def parse_volume(value: str) -> str:
    parts = value.split(":")
    if len(parts) < 2 and not value.startswith("/"):
        raise _flag_error(value, "-v, --volume", "invalid spec")
    if len(parts) > 3:
        raise _flag_error(value, "-v, --volume", f"invalid spec: {value}: too many colons")
    if not parts[0]:
        raise _flag_error(value, "-v, --volume", f"invalid spec: {value}: empty section "
                                                 "between colons")
    return value


def split_volumes(values: list[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """docker's -v handling: ``src:dst[:mode]`` goes to HostConfig.Binds (a source
    starting with "." made absolute), a bare ``/dst`` to Config.Volumes (anonymous)."""
    import os

    binds: list[str] = []
    anonymous: dict[str, dict[str, Any]] = {}
    for value in values:
        parse_volume(value)
        if ":" not in value:
            anonymous[value] = {}
            continue
        host, _, rest = value.partition(":")
        if host.startswith("."):
            host = os.path.abspath(host)
        binds.append(f"{host}:{rest}")
    return binds, anonymous


def parse_tmpfs(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        path, _, opts = item.partition(":")
        out[path] = opts
    return out


def parse_add_host(value: str) -> str:
    host, sep, ip = value.partition("=")
    if not sep:
        host, sep, ip = value.partition(":")
    if not sep or not host or not ip:
        raise _flag_error(value, "--add-host", f"bad format for add-host: {value!r}")
    return f"{host}:{ip}"


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                   "m": 60_000_000_000, "h": 3_600_000_000_000}


def go_duration(value: str, flag: str) -> int:
    """Go's time.ParseDuration (``1m30s``, ``500ms``) in nanoseconds."""
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", value)
    if value in ("0",):
        return 0
    if not parts or "".join(n + u for n, u in parts) != value:
        raise _flag_error(value, flag, f'time: invalid duration "{value}"')
    return int(sum(float(n) * _DURATION_UNITS[u] for n, u in parts))


def _cpus(value: str) -> int:
    try:
        return round(float(value) * 1e9)
    except ValueError:
        raise _flag_error(value, "--cpus", "failed to parse " + value + " as a rational "
                          "number") from None


def _maybe_int(value: Any, flag: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise _flag_error(str(value), flag, f'strconv.ParseInt: parsing "{value}": '
                          "invalid syntax") from None


def _network_flags(opts: Parsed) -> tuple[dict[str, Any], dict[str, Any], str,
                                           dict[str, Any]]:
    """-p/--expose/--network... -> (ExposedPorts, PortBindings, NetworkMode, EndpointsConfig)
    (cli/netopts.py; its FlagValueError is a ConfigError here, NetOptError passes up)."""
    from .. import netopts

    try:
        links = [netopts.validate_link(v) for v in opts.link]
        networks = list(opts.network) + list(opts.values.get("net") or [])
        exposed, bindings = netopts.parse_publish(opts.publish)
        exposed = netopts.parse_expose(opts.expose, exposed)
        mode, endpoints = netopts.parse_networks(
            networks, aliases=opts.network_alias + (opts.values.get("net_alias") or []),
            links=links, ip=opts.ip or "", ip6=opts.ip6 or "", mac=opts.mac_address or "",
            link_local_ips=opts.link_local_ip)
    except netopts.FlagValueError as exc:
        raise ConfigError(str(exc)) from None
    return exposed, bindings, mode, endpoints


def build_create_body(opts: Parsed, image: str, command: list[str],
                      terminal_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """docker's parse(): flags → ``{**Config, "HostConfig": ..., "NetworkingConfig": ...}``."""
    detach = bool(getattr(opts, "detach", False))
    attach = [a.lower() for a in opts.attach]
    for stream in attach:
        if stream not in ("stdin", "stdout", "stderr"):
            raise ConfigError(f'invalid argument "{stream}" for "-a, --attach" flag: '
                              "valid streams are STDIN, STDOUT and STDERR")
    if detach and attach:
        raise ConfigError("Conflicting options: -a and -d")
    if attach:
        attach_stdin = "stdin" in attach
        attach_stdout, attach_stderr = "stdout" in attach, "stderr" in attach
    elif detach:
        attach_stdin = attach_stdout = attach_stderr = False
    else:
        attach_stdin = bool(opts.interactive)
        attach_stdout = attach_stderr = True
    config: dict[str, Any] = {
        "Hostname": opts.hostname or "",
        "Domainname": opts.domainname or "",
        "User": opts.user or "",
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_stdout,
        "AttachStderr": attach_stderr,
        "Tty": bool(opts.tty),
        "OpenStdin": bool(opts.interactive),
        "StdinOnce": bool(opts.interactive and attach_stdin),
        "Env": parse_env(opts.env, opts.env_file),
        "Cmd": command or None,
        "Image": image,
        "Volumes": {},
        "WorkingDir": opts.workdir or "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": parse_labels(opts.label, opts.label_file),
    }
    if "entrypoint" in opts.given:
        config["Entrypoint"] = [opts.entrypoint] if opts.entrypoint else [""]
    if opts.stop_signal:
        config["StopSignal"] = opts.stop_signal
    if opts.stop_timeout is not None:
        config["StopTimeout"] = opts.stop_timeout
    exposed, bindings, network, endpoints = _network_flags(opts)
    if exposed:
        config["ExposedPorts"] = exposed
    health = {key: go_duration(getattr(opts, flag), "--" + flag.replace("_", "-"))
              for key, flag in (("Interval", "health_interval"), ("Timeout", "health_timeout"),
                                ("StartPeriod", "health_start_period"),
                                ("StartInterval", "health_start_interval"))
              if getattr(opts, flag)}
    if opts.no_healthcheck:
        if opts.health_cmd or health or opts.health_retries:
            raise ConfigError("--no-healthcheck conflicts with --health-* options")
        config["Healthcheck"] = {"Test": ["NONE"]}
    elif opts.health_cmd or health or opts.health_retries:
        check: dict[str, Any] = dict(health)
        if opts.health_cmd:
            check["Test"] = ["CMD-SHELL", opts.health_cmd]
        if opts.health_retries:
            check["Retries"] = opts.health_retries
        config["Healthcheck"] = check

    binds, anonymous = split_volumes(opts.volume)
    if anonymous:
        config["Volumes"] = {**(config.get("Volumes") or {}), **anonymous}
    mounts = []
    for item in opts.mount:
        mounts.append(parse_mount(item))
    memory = ram_in_bytes(opts.memory, "-m, --memory") if opts.memory else 0
    swap = 0
    if opts.memory_swap:
        swap = -1 if opts.memory_swap == "-1" else ram_in_bytes(opts.memory_swap,
                                                                "--memory-swap")
    log_config: dict[str, Any] = {"Type": opts.log_driver or "", "Config": {}}
    for item in opts.log_opt:
        key, eq, value = item.partition("=")
        if not eq:
            raise _flag_error(item, "--log-opt", f"invalid key value pair format: {item}")
        log_config["Config"][key] = value
    sysctls: dict[str, str] = {}
    for item in opts.sysctl:
        key, eq, value = item.partition("=")
        if not eq:
            raise _flag_error(item, "--sysctl", f"sysctl '{item}' is not allowed")
        sysctls[key] = value
    host: dict[str, Any] = {
        "Binds": binds or None,
        "ContainerIDFile": opts.cidfile or "",
        "LogConfig": log_config,
        "NetworkMode": network,
        "PortBindings": bindings,
        "RestartPolicy": parse_restart(opts.restart or "no"),
        "AutoRemove": bool(opts.rm),
        "VolumeDriver": opts.volume_driver or "",
        "VolumesFrom": opts.volumes_from or None,
        "ConsoleSize": list(terminal_size) if terminal_size else [0, 0],
        "CapAdd": opts.cap_add or None,
        "CapDrop": opts.cap_drop or None,
        "CgroupnsMode": opts.cgroupns or "",
        "Dns": opts.dns,
        "DnsOptions": opts.dns_option,
        "DnsSearch": opts.dns_search,
        "ExtraHosts": [parse_add_host(h) for h in opts.add_host] or None,
        "GroupAdd": opts.group_add or None,
        "IpcMode": opts.ipc or "",
        "Cgroup": "",
        "OomScoreAdj": opts.oom_score_adj or 0,
        "PidMode": opts.pid or "",
        "Privileged": bool(opts.privileged),
        "PublishAllPorts": bool(opts.publish_all),
        "ReadonlyRootfs": bool(opts.read_only),
        "SecurityOpt": parse_security_opts(opts.security_opt) or None,
        "Tmpfs": parse_tmpfs(opts.tmpfs) or None,
        "UTSMode": opts.uts or "",
        "UsernsMode": opts.userns or "",
        "ShmSize": ram_in_bytes(opts.shm_size, "--shm-size") if opts.shm_size else 0,
        "Sysctls": sysctls or None,
        "Runtime": opts.runtime or "",
        "Isolation": "",
        "CpuShares": opts.cpu_shares or 0,
        "Memory": memory,
        "NanoCpus": _cpus(opts.cpus) if opts.cpus else 0,
        "CgroupParent": opts.cgroup_parent or "",
        "CpuPeriod": opts.cpu_period or 0,
        "CpuQuota": opts.cpu_quota or 0,
        "CpusetCpus": opts.cpuset_cpus or "",
        "CpusetMems": opts.cpuset_mems or "",
        "Devices": [parse_device(d) for d in opts.device],
        "DeviceCgroupRules": opts.device_cgroup_rule or None,
        "MemoryReservation": (ram_in_bytes(opts.memory_reservation, "--memory-reservation")
                              if opts.memory_reservation else 0),
        "MemorySwap": swap,
        "MemorySwappiness": opts.memory_swappiness if opts.memory_swappiness not in
        (None, -1) else None,
        "OomKillDisable": bool(opts.oom_kill_disable),
        "PidsLimit": opts.pids_limit if opts.pids_limit else None,
        "Ulimits": [parse_ulimit(u) for u in opts.ulimit] or None,
        "Mounts": mounts or None,
    }
    if "init" in opts.given:
        host["Init"] = bool(opts.init)
    host["Links"] = opts.link or None
    body = dict(config)
    body["HostConfig"] = host
    body["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    return body


# --- the flow --------------------------------------------------------------------------


def _usage_hint(key: str) -> str:
    return f"\nRun 'dockyard {key} --help' for more information"


def _fail(ctx: Context, key: str, message: str, status: int = 125) -> CLIError:
    return CLIError(f"dockyard: {message}\n{_usage_hint(key)}", status)


def _image_ref(image: str) -> str:
    from dockyard.client.images import split_repo_tag
    _name, tag = split_repo_tag(image)
    return image if tag else f"{image}:latest"


def _pull(ctx: Context, image: str, platform: str | None) -> None:
    from dockyard.client.images import split_repo_tag

    from ..progress import display
    from .common import registry_auth
    name, tag = split_repo_tag(image)
    ref = image if tag else f"{name}:latest"
    stream = ctx.client.pull(ref, platform=platform, auth=registry_auth(ctx, ref))
    display(stream, ctx.stderr, terminal=is_terminal(ctx.stderr))


def create_container(ctx: Context, opts: Parsed, key: str,
                     terminal_size: tuple[int, int] | None = None) -> str:
    """Create (pulling on a missing image as ``--pull`` says); the new container's ID."""
    from dockyard.client.errors import APIError, DaemonUnavailable, StreamError

    from ..netopts import NetOptError

    image, command = opts.args[0], opts.args[1:]
    try:
        body = build_create_body(opts, image, command, terminal_size)
    except ConfigError as exc:
        raise CLIError(f"{exc}\n\nUsage:  dockyard {key} [OPTIONS] IMAGE [COMMAND] [ARG...]"
                       f"\n{_usage_hint(key)}", 125) from None
    except NetOptError as exc:  # docker's parse() errors: "docker: MESSAGE"
        raise _fail(ctx, key, str(exc)) from None
    if opts.cidfile and os.path.exists(opts.cidfile):
        raise _fail(ctx, key, f"Container ID file found, make sure the other container isn't "
                    f"running or delete {opts.cidfile}")
    policy = opts.pull or "missing"
    if policy not in ("always", "missing", "never"):
        raise _fail(ctx, key, f'invalid pull option: \'{policy}\': must be one of '
                    '"always", "missing" or "never"')
    platform = opts.platform or None
    try:
        if policy == "always":
            _pull(ctx, image, platform)
        try:
            created = ctx.client.create_container(body, name=opts.name or None,
                                                  platform=platform)
        except APIError as exc:
            if not (exc.status == 404 and "No such image" in exc.message
                    and policy == "missing"):
                raise
            ctx.stderr.write(f"Unable to find image '{_image_ref(image)}' locally\n")
            _pull(ctx, image, platform)
            created = ctx.client.create_container(body, name=opts.name or None,
                                                  platform=platform)
    except StreamError as exc:
        raise _fail(ctx, key, exc.message) from None
    except DaemonUnavailable as exc:
        raise _fail(ctx, key, str(exc)) from None
    except APIError as exc:
        raise _fail(ctx, key, f"Error response from daemon: {exc.message}") from None
    for warning in created.get("Warnings") or []:
        ctx.stderr.write(f"WARNING: {warning}\n")
    cid = created.get("Id", "")
    if opts.cidfile:
        with open(opts.cidfile, "x", encoding="utf-8") as f:
            f.write(cid)
    return cid


def create(ctx: Context, opts: Parsed) -> int:
    cid = create_container(ctx, opts, "create")
    ctx.stdout.write(cid + "\n")
    return 0


def start_error_status(message: str) -> int:
    """docker's runStartContainerErr: 127 not found, 126 cannot invoke, else 125."""
    low = message.lower()
    if ("executable file not found" in low or "no such file or directory" in low
            or "system cannot find the file specified" in low):
        return 127
    if "permission denied" in low or "cannot invoke" in low or "not executable" in low:
        return 126
    return 125


def _terminal_size(stream: Any) -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    return (size.lines, size.columns)


def run(ctx: Context, opts: Parsed) -> int:
    from dockyard.client.errors import APIError

    from .containers import _raw_terminal, _write

    tty = bool(opts.tty)
    if tty and opts.interactive and not is_terminal(ctx.stdin) and not opts.detach:
        raise CLIError("the input device is not a TTY", 1)
    size = _terminal_size(ctx.stdout) if tty else None
    cid = create_container(ctx, opts, "run", size)
    client = ctx.client
    if opts.detach:
        try:
            client.start(cid)
        except APIError as exc:
            raise _fail(ctx, "run", f"Error response from daemon: {exc.message}",
                        start_error_status(exc.message)) from None
        ctx.stdout.write(cid + "\n")
        return 0
    attach = [a.lower() for a in opts.attach] or (
        ["stdin", "stdout", "stderr"] if opts.interactive else ["stdout", "stderr"])
    want_stdin = "stdin" in attach and bool(opts.interactive)
    keys = ctx.detach_keys(opts.detach_keys)
    conn = client.attach(cid, stdin=want_stdin, stdout="stdout" in attach,
                         stderr="stderr" in attach, detach_keys=keys, tty=tty)
    # wait before start: an exit (or the removal) cannot slip between start and wait
    waiter = client.wait_response(cid, "removed" if opts.rm else "next-exit")
    restore = _raw_terminal(ctx.stdin) if tty and want_stdin else None
    handlers = _install_signal_handlers(ctx, cid, tty, opts.sig_proxy)
    pump = StdinPump(ctx, conn, detach_sequence(keys) if tty else None)
    try:
        with conn:
            if want_stdin:
                pump.start()
            try:
                client.start(cid)
            except APIError as exc:
                if restore is not None:
                    restore()
                    restore = None
                waiter.close()
                raise _fail(ctx, "run", f"Error response from daemon: {exc.message}",
                            start_error_status(exc.message)) from None
            if tty and size:
                previous = _resize_on_winch(ctx, cid)
                if previous is not None:
                    handlers[_signal.SIGWINCH] = previous
            for stream, data in conn.frames():
                _write(ctx.stderr if stream == 2 else ctx.stdout, data)
    finally:
        if restore is not None:
            restore()
        _restore_signal_handlers(handlers)
    if pump.detached:
        waiter.close()
        return 0
    try:
        result = wait_result(waiter, want_stdin, client, cid)
    except APIError as exc:
        ctx.stderr.write(f"Error response from daemon: {exc.message}\n")
        return 125
    if result is None:  # detached (the detach keys): the container keeps running
        return 0
    error = (result.get("Error") or {}).get("Message")
    if error:
        ctx.stderr.write(f"{error}\n")
        return 125
    return int(result.get("StatusCode") or 0)


DETACH_GRACE = 2.0
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def detach_sequence(keys: str | None) -> bytes:
    """docker's term.ToBytes: ``ctrl-p,ctrl-q`` → b"\\x10\\x11"; single characters as-is."""
    out = bytearray()
    for key in (keys or DEFAULT_DETACH_KEYS).split(","):
        key = key.strip()
        if key.lower().startswith("ctrl-") and len(key) == 6:
            ch = key[5].lower()
            codes = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
            elif ch in codes:
                out.append(codes[ch])
            else:
                raise CLIError(f"Unknown character: '{key}'", 125)
        elif len(key) == 1:
            out += key.encode()
        else:
            raise CLIError(f"Unknown character: '{key}'", 125)
    return bytes(out)


class StdinPump:
    """Copies stdin into a hijacked connection; on a terminal, watches for the detach keys
    (docker's EscapeProxy): a partial match is held back, a full one closes the connection
    (the container keeps running) and sets :attr:`detached`."""

    def __init__(self, ctx: Context, conn: Any, keys: bytes | None) -> None:
        self.ctx, self.conn, self.keys = ctx, conn, keys
        self.detached = False

    def start(self) -> None:
        import threading

        threading.Thread(target=self.run, daemon=True).start()

    def run(self) -> None:
        import socket
        src = getattr(self.ctx.stdin, "buffer", self.ctx.stdin)
        held = b""
        try:
            while True:
                data = src.read1(65536) if hasattr(src, "read1") else src.read(65536)
                if not data:
                    break
                if isinstance(data, str):
                    data = data.encode()
                if self.keys:
                    out = bytearray()
                    for byte in data:
                        held += bytes([byte])
                        if self.keys.startswith(held):
                            if held == self.keys:
                                if out:
                                    self.conn.send(bytes(out))
                                self.detached = True
                                self.conn.sock.shutdown(socket.SHUT_RDWR)
                                return
                            continue
                        out += held
                        held = b""
                    data = bytes(out)
                if data:
                    self.conn.send(data)
        except OSError:
            return
        self.conn.close_stdin()


def wait_result(waiter: Any, detachable: bool, client: Any = None,
                cid: str = "") -> dict[str, Any] | None:
    """The wait's answer, or None when the streams ended with the container still running
    (detached by the daemon on the detach keys: only possible with stdin attached)."""
    import select

    from dockyard.client.errors import APIError
    if detachable and client is not None and waiter.sock is not None:
        while not waiter.reader.buf:
            ready, _, _ = select.select([waiter.sock], [], [], DETACH_GRACE)
            if ready:
                break
            try:
                state = client.inspect_container(cid).get("State") or {}
            except APIError:
                break
            if state.get("Running") and not state.get("Restarting"):
                waiter.close()
                return None
    return waiter.json() or {}


def _resize_on_winch(ctx: Context, cid: str) -> Any:
    """Resize now and on every SIGWINCH; returns the handler it replaced."""
    from dockyard.client.errors import APIError

    def resize(*_: Any) -> None:
        size = _terminal_size(ctx.stdout)
        if size:
            try:
                ctx.client.resize(cid, size[0], size[1])
            except (APIError, OSError):
                pass

    import threading

    resize()
    if threading.current_thread() is threading.main_thread():
        return _signal.signal(_signal.SIGWINCH, resize)
    return None


PROXIED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def _install_signal_handlers(ctx: Context, cid: str, tty: bool,
                             sig_proxy: bool) -> dict[int, Any]:
    """docker's --sig-proxy (on unless a TTY): signals to the CLI go to the container."""
    import threading

    if tty or not sig_proxy or threading.current_thread() is not threading.main_thread():
        return {}
    saved: dict[int, Any] = {}
    names = {getattr(_signal, name): name for name in PROXIED}

    def forward(signum: int, _frame: Any) -> None:
        name = names[signum]

        def send() -> None:
            try:
                ctx.client.kill(cid, name)
            except Exception:  # best effort, as docker
                pass
        threading.Thread(target=send, daemon=True).start()

    for signum in names:
        saved[signum] = _signal.signal(signum, forward)
    return saved


def _restore_signal_handlers(saved: dict[int, Any]) -> None:
    for signum, handler in saved.items():
        _signal.signal(signum, handler)
