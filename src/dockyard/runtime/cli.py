"""dockyard-runtime: a runc-compatible command line over the runtime library.

Engines drive it exactly as they drive runc:
    dockyard-runtime [--root DIR] [--log FILE] [--log-format json] create --bundle B ID
Errors are one line on stderr (and a JSON record in --log), with a non-zero exit.
Imports are lazy: each command loads only what it uses.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing itself costs milliseconds at every start
    from contextlib import AbstractContextManager
    from typing import Any

    from .cliargs import Arguments
    from .config import Process
    from .launch import CreateOptions

VERSION = "0.1.0"
SPEC_VERSION = "1.2.0"


class Logger:
    def __init__(self, path: str, fmt: str, debug: bool) -> None:
        self.path, self.fmt, self.debug_enabled = path, fmt, debug

    def write(self, level: str, message: str) -> None:
        if not self.path:
            return
        import datetime

        now = datetime.datetime.now(datetime.UTC).isoformat()
        if self.fmt == "json":
            line = json.dumps({"level": level, "msg": message, "time": now})
        else:
            line = f'time="{now}" level={level} msg="{message}"'
        with open(self.path, "a") as file:
            file.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    from .cliargs import UsageError, parse, usage

    try:
        args = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        print(f"dockyard-runtime: {err}", file=sys.stderr)
        return 2
    logger = Logger(args.log, args.log_format, args.debug)
    if args.version:
        print(f"dockyard-runtime version {VERSION}\nspec: {SPEC_VERSION}")
        return 0
    if args.help or not args.command:
        print(usage(args.command))
        return 0 if args.help else 2
    if args.debug:
        _configure_logging()
    from .errors import OCIError

    try:
        return COMMANDS[args.command](args)
    except (OCIError, OSError, ValueError) as err:
        message = _one_line(err)
        logger.write("error", message)
        print(f"dockyard-runtime: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename:
        text = f"{err.filename}: {err.strerror}"
    elif isinstance(err, OSError) and len(err.args) > 1:
        text = str(err.args[1])
    else:
        text = str(err)
    return " ".join(text.split())


def _configure_logging() -> None:
    # Only for --debug: without it, warnings reach stderr through logging's
    # last-resort handler, and the CLI does not pay for configuring logging.
    import logging

    logging.basicConfig(level=logging.DEBUG,
                        format="dockyard-runtime: %(levelname)s: %(message)s")


def _create_options(args: Arguments) -> CreateOptions:
    from .launch import CreateOptions

    preserve = args.preserve_fds
    listen_fds = os.environ.get("LISTEN_FDS")
    if listen_fds and listen_fds.isdigit():
        preserve += int(listen_fds)
    return CreateOptions(
        console_socket=args.console_socket,
        pid_file=os.path.abspath(args.pid_file) if args.pid_file else None,
        preserve_fds=preserve,
        no_pivot=args.no_pivot,
        no_new_keyring=args.no_new_keyring,
    )


def _protect_inherited_fds(preserve: int) -> None:
    from .procutil import cloexec_fds_from

    cloexec_fds_from(3 + preserve)


def cmd_create(args: Arguments) -> int:
    from .launch import create

    options = _create_options(args)
    _protect_inherited_fds(options.preserve_fds)
    create(args.root, args.container_id, args.bundle, options)
    return 0


def cmd_run(args: Arguments) -> int:
    from .container import Container
    from .launch import create
    from .procutil import set_subreaper
    from .supervise import SignalQueue, console_listener, raw_terminal, receive_master, wait_for

    options = _create_options(args)
    _protect_inherited_fds(options.preserve_fds)
    if args.detach:
        create(args.root, args.container_id, args.bundle, options)
        Container(args.root, args.container_id).start()
        return 0
    if not args.no_subreaper:
        set_subreaper()
    queue = SignalQueue()
    from .config import load_bundle

    config, _ = load_bundle(os.path.abspath(args.bundle))
    relay = config.process is not None and config.process.terminal and not args.console_socket
    if relay:
        with console_listener() as (console_path, server):
            options.console_socket = console_path
            state = create(args.root, args.container_id, args.bundle, options)
            master: int | None = receive_master(server)
    else:
        state = create(args.root, args.container_id, args.bundle, options)
        master = None
    container = Container(args.root, args.container_id)
    try:
        container.start()
        with raw_terminal(0) if master is not None else _nothing():
            status = wait_for(state.pid, queue, master)
    finally:
        if not args.keep:
            container.delete(force=True)
    return status


def _nothing() -> AbstractContextManager[None]:
    import contextlib

    return contextlib.nullcontext()


def cmd_start(args: Arguments) -> int:
    from .container import Container

    Container(args.root, args.container_id).start()
    return 0


def cmd_state(args: Arguments) -> int:
    from .container import Container

    print(json.dumps(Container(args.root, args.container_id).oci_state(), indent=2))
    return 0


def parse_signal(value: str) -> int:
    import signal

    if value.isdigit():
        return int(value)
    name = value.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ValueError(f"unknown signal {value!r}") from None


def cmd_kill(args: Arguments) -> int:
    from .container import Container

    Container(args.root, args.container_id).kill(parse_signal(args.signal), args.all)
    return 0


def cmd_delete(args: Arguments) -> int:
    from .container import Container
    from .errors import ContainerNotFound

    try:
        container = Container(args.root, args.container_id)
    except ContainerNotFound:
        if args.force:
            return 0  # as runc: deleting what is already gone is not an error with -f
        raise
    container.delete(force=args.force)
    return 0


def cmd_pause(args: Arguments) -> int:
    from .container import Container

    Container(args.root, args.container_id).pause()
    return 0


def cmd_resume(args: Arguments) -> int:
    from .container import Container

    Container(args.root, args.container_id).resume()
    return 0


def cmd_ps(args: Arguments) -> int:
    from .container import Container

    pids = Container(args.root, args.container_id).pids()
    if args.format == "json":
        print(json.dumps(pids))
        return 0
    import subprocess

    output = subprocess.run(["ps", *(args.ps_args or ["-ef"])], check=True,
                            capture_output=True, text=True).stdout.splitlines()
    header, rows = output[0], output[1:]
    pid_column = header.split().index("PID")
    print(header)
    for row in rows:
        fields = row.split()
        if len(fields) > pid_column and fields[pid_column].isdigit() and \
                int(fields[pid_column]) in pids:
            print(row)
    return 0


def cmd_list(args: Arguments) -> int:
    from .container import list_containers

    states = []
    for container in list_containers(args.root):
        state = container.oci_state()
        state["owner"] = container.state.owner
        states.append(state)
    if args.quiet:
        for state in states:
            print(state["id"])
    elif args.format == "json":
        print(json.dumps(states))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"])
                 for s in states]
        widths = [max(len(row[i]) for row in rows) for i in range(6)]
        for row in rows:
            print("   ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                    strict=True)).rstrip())
    return 0


def cmd_spec(args: Arguments) -> int:
    from .defaults import docker_default_spec

    path = os.path.join(args.bundle, "config.json")
    if os.path.exists(path):
        raise ValueError(f"{path} already exists; remove it first")
    spec = docker_default_spec(["sh"])
    tmp = path + ".tmp"
    with open(tmp, "w") as file:
        json.dump(spec, file, indent=2)
    os.rename(tmp, path)
    return 0


def parse_size(value: str) -> int:
    """runc's byte sizes: plain numbers, or with a binary suffix (64M, 1g, 512KiB); -1."""
    text = value.strip().lower().removesuffix("ib").removesuffix("b")
    scale = 1
    if text and text[-1] in "kmgtp":
        scale = 1024 ** ("kmgtp".index(text[-1]) + 1)
        text = text[:-1]
    try:
        return int(float(text) * scale) if scale > 1 else int(text)
    except ValueError:
        raise ValueError(f"invalid size {value!r}") from None


def _resources_from_flags(args: Arguments) -> dict[str, Any]:
    def number(value: str | None) -> int | None:
        return None if value is None else int(value)

    def size(value: str | None) -> int | None:
        return None if value is None else parse_size(value)

    resources: dict[str, Any] = {}
    memory = {
        "limit": size(args.memory), "swap": size(args.memory_swap),
        "reservation": size(args.memory_reservation), "kernel": size(args.kernel_memory),
        "kernelTCP": size(args.kernel_memory_tcp),
    }
    cpu = {
        "shares": number(args.cpu_shares), "quota": number(args.cpu_quota),
        "period": number(args.cpu_period), "realtimeRuntime": number(args.cpu_rt_runtime),
        "realtimePeriod": number(args.cpu_rt_period), "cpus": args.cpuset_cpus,
        "mems": args.cpuset_mems, "burst": number(args.cpu_burst),
    }
    for key, values in (("memory", memory), ("cpu", cpu)):
        chosen = {k: v for k, v in values.items() if v is not None}
        if chosen:
            resources[key] = chosen
    if args.pids_limit is not None:
        resources["pids"] = {"limit": int(args.pids_limit)}
    if args.blkio_weight is not None:
        resources["blockIO"] = {"weight": int(args.blkio_weight)}
    return resources


def cmd_update(args: Arguments) -> int:
    from .container import Container

    if args.resources:
        if args.resources == "-":
            resources = json.load(sys.stdin)
        else:
            with open(args.resources) as file:
                resources = json.load(file)
    else:
        resources = _resources_from_flags(args)
    Container(args.root, args.container_id).update(resources)
    return 0


def _exec_process(args: Arguments, container_config: dict[str, Any]) -> Process:
    """The process to exec: from --process, or the container's process with overrides."""
    from .config import parse_process

    if args.process:
        with open(args.process) as file:
            return parse_process(json.load(file), "process")
    if not args.args:
        raise ValueError("exec needs a command or --process")
    # A deep copy: the overrides below must not change the container's own config.
    base = json.loads(json.dumps(container_config.get("process") or {}))
    base["args"] = list(args.args)
    base["terminal"] = bool(args.tty)
    base["env"] = list(base.get("env") or []) + list(args.env)
    if args.cwd:
        base["cwd"] = args.cwd
    base.setdefault("cwd", "/")
    # As runc: --user replaces the uid (and the gid if given), -g adds groups; the
    # container's umask and other groups stay.
    user = base.setdefault("user", {})
    if args.user:
        uid, _, gid = args.user.partition(":")
        user["uid"] = int(uid)
        if gid:
            user["gid"] = int(gid)
    if args.additional_gids:
        user["additionalGids"] = list(user.get("additionalGids") or []) + args.additional_gids
    if args.cap:
        caps = dict(base.get("capabilities") or {})
        # Ambient caps must also be permitted and inheritable, or the kernel refuses them.
        for key in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            caps[key] = list(dict.fromkeys(list(caps.get(key) or []) + args.cap))
        base["capabilities"] = caps
    if args.no_new_privs:
        base["noNewPrivileges"] = True
    base.pop("consoleSize", None)
    return parse_process(base, "process")


def cmd_exec(args: Arguments) -> int:
    from .container import Container
    from .procutil import set_subreaper
    from .supervise import SignalQueue, console_listener, raw_terminal, receive_master, wait_for

    _protect_inherited_fds(args.preserve_fds)
    container = Container(args.root, args.container_id)
    process = _exec_process(args, container.state.config)
    if args.args and args.args[0] == "--":
        raise ValueError("exec: put the command after the container id without '--'")
    if args.detach:
        pid = container.exec(process, args.console_socket, args.preserve_fds)
        if args.pid_file:
            from .launch import _write_pid_file

            _write_pid_file(os.path.abspath(args.pid_file), pid)
        return 0
    set_subreaper()
    queue = SignalQueue()
    relay = process.terminal and not args.console_socket
    if relay:
        with console_listener() as (console_path, server):
            pid = container.exec(process, console_path, args.preserve_fds)
            master: int | None = receive_master(server)
    else:
        pid = container.exec(process, args.console_socket, args.preserve_fds)
        master = None
    if args.pid_file:
        from .launch import _write_pid_file

        _write_pid_file(os.path.abspath(args.pid_file), pid)
    with raw_terminal(0) if master is not None else _nothing():
        return wait_for(pid, queue, master)


def cmd_features(args: Arguments) -> int:
    from .capabilities import CAPABILITIES
    from .linux.constants import NAMESPACES
    from .mountopts import _FLAGS, _PROPAGATION, _RECURSIVE, _RECURSIVE_ATIME

    features = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": sorted([*_FLAGS, *_PROPAGATION, *_RECURSIVE, *_RECURSIVE_ATIME]),
        "linux": {
            "namespaces": sorted(NAMESPACES),
            "capabilities": [f"CAP_{name}" for name in CAPABILITIES],
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                            "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                            "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                              "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32",
                          "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {"io.dockyard.runtime.version": VERSION},
    }
    print(json.dumps(features, indent=2))
    return 0


COMMANDS = {
    "create": cmd_create, "run": cmd_run, "start": cmd_start, "state": cmd_state,
    "kill": cmd_kill, "delete": cmd_delete, "pause": cmd_pause, "resume": cmd_resume,
    "ps": cmd_ps, "list": cmd_list, "spec": cmd_spec, "update": cmd_update,
    "exec": cmd_exec, "features": cmd_features,
}


if __name__ == "__main__":
    raise SystemExit(main())
