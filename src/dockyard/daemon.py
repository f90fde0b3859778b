"""`dockyardd`: the Engine API daemon.

Flags are named as dockerd's. Flags and ``--config-file`` (daemon.json keys) make one
:class:`DaemonConfig` that the API and the engine read. Heavy modules (aiohttp, the image
store) are imported only once the flags are parsed, so that start-up stays fast.

Start-up order: parse flags and daemon.json -> lock ``<data-root>/dockyardd.lock`` (a
second daemon on the same data root fails here, before touching anything) -> pid file ->
open the image store -> listen. SIGTERM/SIGINT: stop listening, finish, remove the socket
and the pid file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import __version__

DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"
DEFAULT_DATA_ROOT = "/var/lib/dockyard"
DEFAULT_EXEC_ROOT = "/run/dockyard"
DEFAULT_RUNTIME = "dockyard-runtime"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")


class ConfigError(ValueError):
    """A bad flag or daemon.json; the daemon refuses to start."""


@dataclass
class DaemonConfig:
    """dockerd's settings, for the API and the engine."""

    hosts: list[str] = field(default_factory=lambda: [DEFAULT_HOST])
    data_root: Path = Path(DEFAULT_DATA_ROOT)
    exec_root: Path = Path(DEFAULT_EXEC_ROOT)
    pidfile: Path | None = None  # default <exec-root>/dockyardd.pid
    log_level: str = "info"
    insecure_registries: list[str] = field(default_factory=list)
    mirrors: list[str] = field(default_factory=list)
    default_runtime: str = DEFAULT_RUNTIME
    #: name -> {"path": ..., "runtimeArgs": [...]}; the built-in runtime is always present
    runtimes: dict[str, dict[str, Any]] = field(default_factory=dict)
    live_restore: bool = True
    #: name -> {"Name": .., "Soft": .., "Hard": ..}
    default_ulimits: dict[str, dict[str, Any]] = field(default_factory=dict)
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    tlsverify: bool = False
    tlscacert: str = ""
    tlscert: str = ""
    tlskey: str = ""
    snapshotter: str = "auto"
    #: networking: --default-address-pool (ipam.AddressPool), --bip, --icc, --ip-forward
    default_address_pools: list[Any] = field(default_factory=list)
    bip: str = ""
    icc: bool = True
    ip_forward: bool = True
    #: --dns: default DNS servers of containers that name none (embedded DNS forwards there)
    dns: list[str] = field(default_factory=list)

    @property
    def pid_path(self) -> Path:
        return self.pidfile or (self.exec_root / "dockyardd.pid")


# --- parsing -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dockyardd", description="dockyard's Engine API daemon")
    a = p.add_argument
    a("-v", "--version", action="store_true", help="print the version and exit")
    a("-H", "--host", action="append", dest="hosts", default=None,
      help="daemon socket to listen on (unix:///path, or tcp://host:port with --tlsverify)")
    a("--data-root", default=None, help=f"root of persistent state (default {DEFAULT_DATA_ROOT})")
    a("--exec-root", default=None, help=f"root of runtime state (default {DEFAULT_EXEC_ROOT})")
    a("-p", "--pidfile", default=None, help="pid file (default <exec-root>/dockyardd.pid)")
    a("-l", "--log-level", default=None, choices=LOG_LEVELS, help="logging level")
    a("-D", "--debug", action="store_true", default=None, help="same as --log-level debug")
    a("--insecure-registry", action="append", dest="insecure_registries", default=None,
      help="registry (host[:port] or CIDR) reached over plain HTTP or unverified TLS")
    a("--registry-mirror", action="append", dest="mirrors", default=None,
      help="mirror for Docker Hub pulls")
    a("--dns", action="append", dest="dns", default=None,
      help="DNS server for containers that name none with --dns")
    a("--config-file", default=None, help="daemon.json (default /etc/dockyard/daemon.json)")
    a("--default-runtime", default=None, help=f"runtime for containers (default {DEFAULT_RUNTIME})")
    a("--add-runtime", action="append", dest="add_runtime", default=None,
      help="another OCI runtime, NAME=PATH")
    a("--live-restore", nargs="?", const="true", default=None,
      help="keep containers running while the daemon is down (default true)")
    a("--default-ulimit", action="append", dest="default_ulimits", default=None,
      help="default ulimit for containers, NAME=SOFT[:HARD]")
    a("--log-driver", default=None, help="default log driver (default json-file)")
    a("--log-opt", action="append", dest="log_opts", default=None, help="log driver option K=V")
    a("--tlsverify", action="store_true", default=None, help="mutual TLS on tcp:// hosts")
    a("--tlscacert", default=None, help="CA that client certificates must be signed by")
    a("--tlscert", default=None, help="server certificate")
    a("--tlskey", default=None, help="server key")
    a("--snapshotter", default=None, choices=("auto", "overlay", "copy"), help=argparse.SUPPRESS)
    a("--default-address-pool", action="append", dest="default_address_pools", default=None,
      help="default address pool for networks, base=CIDR,size=N")
    a("--bip", default=None, help="the default bridge's address and prefix (CIDR)")
    a("--icc", nargs="?", const="true", default=None,
      help="inter-container communication on the default bridge (default true)")
    a("--ip-forward", nargs="?", const="true", default=None, dest="ip_forward",
      help="enable net.ipv4.ip_forward (default true)")
    return p


def parse_ulimit(text: str) -> dict[str, Any]:
    name, eq, values = text.partition("=")
    if not eq or not name:
        raise ConfigError(f"invalid ulimit argument: {text}")
    soft, _, hard = values.partition(":")
    try:
        soft_v = int(soft)
        hard_v = int(hard) if hard else soft_v
    except ValueError:
        raise ConfigError(f"invalid ulimit argument: {text}") from None
    if soft_v > hard_v:
        raise ConfigError(f"ulimit soft limit must be less than or equal to hard limit: "
                          f"{soft_v} > {hard_v}")
    return {"Name": name, "Soft": soft_v, "Hard": hard_v}


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"invalid boolean for {what}: {value!r}")


# daemon.json key -> argparse dest
_FILE_KEYS = {
    "hosts": "hosts", "data-root": "data_root", "exec-root": "exec_root", "pidfile": "pidfile",
    "log-level": "log_level", "debug": "debug", "insecure-registries": "insecure_registries",
    "registry-mirrors": "mirrors", "default-runtime": "default_runtime", "runtimes": "runtimes",
    "live-restore": "live_restore", "default-ulimits": "default_ulimits",
    "log-driver": "log_driver", "log-opts": "log_opts", "tlsverify": "tlsverify",
    "tlscacert": "tlscacert", "tlscert": "tlscert", "tlskey": "tlskey", "tls": "tls",
    "default-address-pools": "default_address_pools", "bip": "bip", "icc": "icc",
    "ip-forward": "ip_forward", "dns": "dns",
}


def load_config(argv: list[str]) -> tuple[DaemonConfig, argparse.Namespace]:
    args = _parser().parse_args(argv)
    file_path = args.config_file or "/etc/dockyard/daemon.json"
    file_values: dict[str, Any] = {}
    if args.config_file or os.path.exists(file_path):
        try:
            file_values = json.loads(Path(file_path).read_text() or "{}")
        except OSError as err:
            raise ConfigError(f"unable to read config file {file_path}: {err}") from None
        except ValueError as err:
            raise ConfigError(f"invalid daemon configuration file {file_path}: {err}") from None
        if not isinstance(file_values, dict):
            raise ConfigError(f"invalid daemon configuration file {file_path}: not an object")
        unknown = sorted(set(file_values) - set(_FILE_KEYS))
        if unknown:
            raise ConfigError("the following directives don't match any configuration "
                              f"option: {', '.join(unknown)}")
        conflicts = sorted(k for k, dest in _FILE_KEYS.items()
                           if k in file_values and getattr(args, dest, None) is not None)
        if conflicts:
            raise ConfigError("the following directives are specified both as a flag and in "
                              f"the configuration file: {', '.join(conflicts)}")
    cfg = DaemonConfig()

    def pick(dest: str, key: str) -> Any:
        value = getattr(args, dest, None)
        return value if value is not None else file_values.get(key)

    if (hosts := pick("hosts", "hosts")) is not None:
        cfg.hosts = list(hosts) if isinstance(hosts, list) else [hosts]
    if (v := pick("data_root", "data-root")) is not None:
        cfg.data_root = Path(v)
    if (v := pick("exec_root", "exec-root")) is not None:
        cfg.exec_root = Path(v)
    if (v := pick("pidfile", "pidfile")) is not None:
        cfg.pidfile = Path(v)
    if (v := pick("log_level", "log-level")) is not None:
        if v not in LOG_LEVELS:
            raise ConfigError(f"unable to parse logging level: {v}")
        cfg.log_level = v
    if pick("debug", "debug"):
        cfg.log_level = "debug"
    cfg.insecure_registries = list(pick("insecure_registries", "insecure-registries") or [])
    cfg.mirrors = list(pick("mirrors", "registry-mirrors") or [])
    cfg.dns = list(pick("dns", "dns") or [])
    cfg.default_runtime = pick("default_runtime", "default-runtime") or DEFAULT_RUNTIME
    runtimes: dict[str, dict[str, Any]] = {DEFAULT_RUNTIME: {"path": DEFAULT_RUNTIME}}
    for name, spec in (file_values.get("runtimes") or {}).items():
        if not isinstance(spec, dict) or not spec.get("path"):
            raise ConfigError(f"runtime {name}: needs a path")
        runtimes[name] = dict(spec)
    for entry in args.add_runtime or []:
        name, eq, path = entry.partition("=")
        if not eq or not name or not path:
            raise ConfigError(f"invalid runtime {entry!r}: expected NAME=PATH")
        runtimes[name] = {"path": path}
    cfg.runtimes = runtimes
    if cfg.default_runtime not in runtimes:
        raise ConfigError(f"default runtime {cfg.default_runtime} does not exist")
    if (v := pick("live_restore", "live-restore")) is not None:
        cfg.live_restore = _bool(v, "live-restore")
    if args.default_ulimits:
        for text in args.default_ulimits:
            u = parse_ulimit(text)
            cfg.default_ulimits[u["Name"]] = u
    else:
        for name, u in (file_values.get("default-ulimits") or {}).items():
            cfg.default_ulimits[name] = {"Name": name, "Soft": int(u.get("Soft", 0)),
                                         "Hard": int(u.get("Hard", 0))}
    cfg.log_driver = pick("log_driver", "log-driver") or "json-file"
    if args.log_opts:
        for opt in args.log_opts:
            k, eq, val = opt.partition("=")
            if not eq:
                raise ConfigError(f"invalid log-opt {opt!r}: expected KEY=VALUE")
            cfg.log_opts[k] = val
    else:
        cfg.log_opts = {str(k): str(v) for k, v in (file_values.get("log-opts") or {}).items()}
    cfg.tlsverify = bool(pick("tlsverify", "tlsverify"))
    cfg.tlscacert = pick("tlscacert", "tlscacert") or ""
    cfg.tlscert = pick("tlscert", "tlscert") or ""
    cfg.tlskey = pick("tlskey", "tlskey") or ""
    cfg.snapshotter = args.snapshotter or "auto"
    _network_config(cfg, args, file_values)
    for host in cfg.hosts:
        _check_host(host, cfg)
    return cfg, args


def _network_config(cfg: DaemonConfig, args: argparse.Namespace,
                    file_values: dict[str, Any]) -> None:
    from .network.ipam import AddressPool

    pools = args.default_address_pools or file_values.get("default-address-pools") or []
    if not isinstance(pools, list):
        raise ConfigError("default-address-pools must be a list of {base, size}")
    try:
        cfg.default_address_pools = [AddressPool.parse(p) for p in pools]
    except ValueError as err:
        raise ConfigError(str(err)) from None
    bip = args.bip if args.bip is not None else file_values.get("bip")
    if bip:
        import ipaddress

        try:
            ipaddress.ip_interface(bip)
        except ValueError:
            raise ConfigError(f"invalid bip {bip!r}: expected an address with a prefix "
                              "length (CIDR)") from None
        cfg.bip = bip
    for dest, key in (("icc", "icc"), ("ip_forward", "ip-forward")):
        value = getattr(args, dest) if getattr(args, dest) is not None else file_values.get(key)
        if value is not None:
            setattr(cfg, dest, _bool(value, key))


def _check_host(host: str, cfg: DaemonConfig) -> None:
    if host.startswith("unix://") or host.startswith("/"):
        return
    if host.startswith("tcp://"):
        if not (cfg.tlsverify and cfg.tlscacert and cfg.tlscert and cfg.tlskey):
            raise ConfigError(f"refusing to listen on {host} without mutual TLS: use "
                              "--tlsverify --tlscacert --tlscert --tlskey (the API gives "
                              "root on this host to anyone who reaches it)")
        return
    raise ConfigError(f"invalid daemon host {host!r}: use unix:///path or tcp://host:port")


# --- running -------------------------------------------------------------------------


def _lock(data_root: Path) -> int:
    import fcntl

    data_root.mkdir(parents=True, exist_ok=True, mode=0o710)
    fd = os.open(data_root / "dockyardd.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"another dockyardd is running on data root {data_root} "
                          f"(lock {data_root / 'dockyardd.lock'} is held)") from None
    return fd


def _engine_id(data_root: Path) -> str:
    path = data_root / "engine-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        import uuid

        value = str(uuid.uuid4())
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value + "\n")
        os.replace(tmp, path)
        return value


async def serve(cfg: DaemonConfig, *, ready: Any = None) -> None:
    import asyncio
    import concurrent.futures
    import logging
    import signal
    import ssl

    from aiohttp import web

    from .api.app import ApiContext, create_app
    from .image.store import ImageStore

    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(
        max_workers=min(32, (os.cpu_count() or 1) + 4), thread_name_prefix="dockyardd"))
    store = await asyncio.to_thread(ImageStore, cfg.data_root, snapshotter=cfg.snapshotter)
    ctx = ApiContext(config=cfg, store=store, engine_id=_engine_id(cfg.data_root))
    ctx.hooks = _load_engine(cfg, store, ctx.events) or ctx.hooks
    await ctx.hooks.start()
    app = create_app(ctx, ctx.hooks.routes())  # type: ignore[arg-type]
    runner = web.AppRunner(app, access_log=logging.getLogger("dockyard.access")
                           if cfg.log_level == "debug" else None, handle_signals=False)
    await runner.setup()
    sockets: list[Path] = []
    try:
        for host in cfg.hosts:
            if host.startswith("tcp://"):
                hostport = host[len("tcp://"):]
                name, _, port = hostport.rpartition(":")
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH,
                                                     cafile=cfg.tlscacert)
                context.load_cert_chain(cfg.tlscert, cfg.tlskey)
                context.verify_mode = ssl.CERT_REQUIRED
                site: web.BaseSite = web.TCPSite(runner, name.strip("[]") or "0.0.0.0",
                                                 int(port or 2376), ssl_context=context)
            else:
                path = Path(host.removeprefix("unix://"))
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_socket():
                    path.unlink()  # stale: the data-root lock says no daemon owns it
                site = web.UnixSite(runner, str(path))
                sockets.append(path)
            old = os.umask(0o117)  # the socket is born 0660, never wider
            try:
                await site.start()
            finally:
                os.umask(old)
            for path in sockets:
                os.chmod(path, 0o660)
        logging.getLogger("dockyard").info("API listen on %s", ", ".join(cfg.hosts))
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if ready is not None:
            ready()
        await stop.wait()
    finally:
        await runner.cleanup()
        await ctx.hooks.stop()
        for path in sockets:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        store.close()


def _load_engine(cfg: DaemonConfig, store: Any, events: Any) -> Any:
    """The engine's hooks, when the engine package provides ``create_engine``."""
    import importlib

    try:
        engine = importlib.import_module("dockyard.engine")
    except ModuleNotFoundError as err:
        if err.name not in ("dockyard.engine",):
            raise
        return None
    factory = getattr(engine, "create_engine", None)
    return factory(cfg, store, events) if factory is not None else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--version"], ["-v"]):
        print(f"dockyardd version {__version__}")
        return 0
    try:
        cfg, args = load_config(argv)
    except ConfigError as err:
        print(f"dockyardd: {err}", file=sys.stderr)
        return 1
    if args.version:
        print(f"dockyardd version {__version__}")
        return 0
    import asyncio
    import logging

    level = {"warn": "WARNING", "fatal": "CRITICAL"}.get(cfg.log_level, cfg.log_level.upper())
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        lock_fd = _lock(cfg.data_root)
    except ConfigError as err:
        print(f"dockyardd: {err}", file=sys.stderr)
        return 1
    pid_path = cfg.pid_path
    try:
        pid_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = pid_path.with_name(pid_path.name + ".tmp")
        tmp.write_text(f"{os.getpid()}\n")
        os.replace(tmp, pid_path)
        asyncio.run(serve(cfg))
    except OSError as err:
        print(f"dockyardd: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        try:
            if pid_path.read_text().strip() == str(os.getpid()):
                pid_path.unlink()
        except OSError:
            pass
        os.close(lock_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
