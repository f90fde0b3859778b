"""ContainerEngine: the containers of one data root, as the Engine API needs them.

Records (config.v2-like JSON) live in SQLite's ``containers`` table; the runtime
truth of a started container lives in its shim's state dir under the exec root
(``shim.json`` while it runs, ``exit.json`` once it exited), so that a container
outlives the daemon and is re-adopted by ``restore()``. Lifecycle rules are in
state.py; OCI spec generation in spec.py; the shim in shim.py.

Every public method is a coroutine; blocking work runs in ``asyncio.to_thread``.
The daemon never forks a container itself: shims are forked by the shim fork server
(shimserver.py, started with subprocess: fork+exec at once), a single-threaded process
that does the forking.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import secrets
import shutil
import signal as _signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from . import health as _health
from . import logdrivers as _logdrivers
from . import names as _names
from . import spec as _spec
from .errors import Conflict, EngineError, InvalidParameter, NoSuchContainer, NotFound
from .jsonlog import log_files, parse_time_ns, rfc3339nano
from .shim import ATTACH_SOCK, EXIT_FILE, SHIM_FILE
from .state import State, can_remove, check, refusal

ZERO_TIME = "0001-01-01T00:00:00Z"
BACKOFF_START = 0.1
BACKOFF_MAX = 60.0
RESET_AFTER = 10.0  # a container that ran this long restarts after the initial delay again


@dataclass
class EngineConfig:
    runtime_root: str | None = None  # default <exec_root>/runtime
    cgroup_parent: str = "dockyard"
    log_max_size: int = -1
    log_max_file: int = 1
    python: str = sys.executable
    default_stop_timeout: int = 10
    #: network hook: (container id, record) -> netns path or None (the host's)
    netns_for: Callable[[str, dict[str, Any]], str | None] | None = None
    #: network hook: undo netns_for (the container exited, failed to start or is removed)
    release_network: Callable[[str], None] | None = None
    #: network hook at create: (id, name, HostConfig, NetworkingConfig); raises on bad input
    register_network: Callable[[str, str, dict[str, Any], Any], None] | None = None
    #: network hook at remove: drop what register_network recorded
    forget_network: Callable[[str], None] | None = None
    #: (record, network mode) -> {"hosts", "resolv.conf", "hostname"} texts, or None for
    #: the engine's own generic files
    etc_files: Callable[[dict[str, Any], str], dict[str, str] | None] | None = None


@dataclass
class LogEntry:
    stream: str
    data: bytes
    time: str


@dataclass
class _Live:
    """What the engine holds in memory for one container."""

    rec: dict[str, Any]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    exit_waiters: list[asyncio.Future] = field(default_factory=list)
    remove_waiters: list[asyncio.Future] = field(default_factory=list)
    watch_fd: int | None = None
    restart_task: asyncio.Task | None = None
    backoff: float = 0.0

    @property
    def id(self) -> str:
        return self.rec["ID"]

    @property
    def name(self) -> str:
        return self.rec["Name"]

    @property
    def state(self) -> State:
        return State(self.rec["State"]["Status"])


def parse_restart_policy(policy: dict[str, Any] | None) -> tuple[str, int]:
    policy = policy or {}
    name = policy.get("Name") or "no"
    count = int(policy.get("MaximumRetryCount") or 0)
    if ":" in name:
        name, _, n = name.partition(":")
        count = int(n)
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidParameter(f"invalid restart policy '{name}'")
    if count and name != "on-failure":
        raise InvalidParameter(
            f"maximum retry count cannot be used with restart policy '{name}'")
    if count < 0:
        raise InvalidParameter("maximum retry count cannot be negative")
    return name, count


def should_restart(policy: tuple[str, int], exit_code: int, restart_count: int,
                   manually_stopped: bool) -> bool:
    """Docker's restart manager decision after an exit."""
    name, count = policy
    if manually_stopped or name == "no":
        return False
    if name in ("always", "unless-stopped"):
        return True
    return exit_code != 0 and (count == 0 or restart_count < count)


def next_backoff(previous: float, ran_for: float) -> float:
    """100 ms, doubling each time, back to 100 ms after a run of 10 s or more."""
    if previous <= 0 or ran_for >= RESET_AFTER:
        return BACKOFF_START
    return min(previous * 2, BACKOFF_MAX)


class ContainerEngine:
    def __init__(self, data_root: str, exec_root: str, image_store: Any,
                 config: EngineConfig | None = None) -> None:
        self.data_root = os.path.abspath(data_root)
        self.exec_root = os.path.abspath(exec_root)
        self.images = image_store
        self.config = config or EngineConfig()
        self.runtime_root = self.config.runtime_root or os.path.join(self.exec_root, "runtime")
        self.meta = image_store.meta
        self._live: dict[str, _Live] = {}
        self._restored = False
        self._tasks: set[asyncio.Task] = set()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._execs: Any = None  # ExecManager, made on first use (see execs)
        self._shim_server: Any = None  # shimserver.ShimServer, started on first use
        self._health: dict[str, _health.HealthMonitor] = {}  # by container ID
        from .volumes import VolumeService

        self.volumes = VolumeService(self)
        for path in (os.path.join(self.data_root, "containers"),
                     os.path.join(self.exec_root, "containers"), self.runtime_root):
            os.makedirs(path, mode=0o711, exist_ok=True)

    @classmethod
    async def open(cls, data_root: str, exec_root: str, image_store: Any,
                   config: EngineConfig | None = None) -> ContainerEngine:
        """An engine with its containers loaded and re-adopted (see restore())."""
        engine = cls(data_root, exec_root, image_store, config)
        await engine.restore()
        # Started now, so that the first container does not wait for its imports.
        engine._shim_launcher().start()
        return engine

    @property
    def execs(self) -> Any:
        """The exec instances (execs.ExecManager), kept in memory per container."""
        if self._execs is None:
            from .execs import ExecManager

            self._execs = ExecManager(self)
        return self._execs

    # --- events ------------------------------------------------------------------

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``listener`` with each container event, in Docker's events JSON shape;
        returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners \
            else None

    def _emit(self, live: _Live, action: str, **extra: str) -> None:
        if not self._listeners:
            return
        rec = live.rec
        attrs = {**(rec["Config"].get("Labels") or {}), "image": rec["Config"].get("Image", ""),
                 "name": rec["Name"].lstrip("/"), **extra}
        now = time.time_ns()
        event = {"status": action, "id": rec["ID"], "from": rec["Config"].get("Image", ""),
                 "Type": "container", "Action": action,
                 "Actor": {"ID": rec["ID"], "Attributes": attrs},
                 "scope": "local", "time": now // 10**9, "timeNano": now}
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not break the engine
                pass

    # --- paths -------------------------------------------------------------------

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.data_root, "containers", cid)

    def state_dir(self, cid: str) -> str:
        return os.path.join(self.exec_root, "containers", cid)

    def rootfs(self, cid: str) -> str:
        return os.path.join(self.container_dir(cid), "rootfs")

    def log_path(self, cid: str) -> str:
        """The container's newest log file by its log driver ("" for none)."""
        live = self._live.get(cid)
        hc = live.rec["HostConfig"] if live is not None else {}
        return _logdrivers.log_path(self.container_dir(cid), cid, hc)

    def attach_socket(self, ref: str) -> str:
        """The shim's attach socket (see shim.py for its protocol)."""
        return os.path.join(self.state_dir(self._get(ref).id), ATTACH_SOCK)

    # --- lookup ------------------------------------------------------------------

    def _get(self, ref: str) -> _Live:
        """By full ID, name (with or without /), or unique ID prefix, as Docker."""
        if ref in self._live:
            return self._live[ref]
        wanted = "/" + ref.lstrip("/")
        for live in self._live.values():
            if live.name == wanted:
                return live
        if ref:
            found = [lv for lv in self._live.values() if lv.id.startswith(ref)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise InvalidParameter(
                    f"multiple containers found with provided prefix: {ref}")
        raise NoSuchContainer(ref)

    def _name_in_use(self, name: str, but: str | None = None) -> _Live | None:
        for live in self._live.values():
            if live.name == name and live.id != but:
                return live
        return None

    # --- persistence -------------------------------------------------------------

    def _save(self, live: _Live) -> None:
        rec = live.rec
        self.meta.query(
            "INSERT INTO containers(id, name, image_id, snapshot_key, created, config, labels)"
            " VALUES(?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET name=excluded.name,"
            " config=excluded.config, labels=excluded.labels",
            (rec["ID"], rec["Name"], rec["Image"], rec["SnapshotKey"], rec["CreatedTs"],
             json.dumps(rec), json.dumps(rec["Config"].get("Labels") or {})))

    async def _persist(self, live: _Live) -> None:
        await asyncio.to_thread(self._save, live)

    # --- create ------------------------------------------------------------------

    async def create(self, config: dict[str, Any], host_config: dict[str, Any] | None = None,
                     name: str | None = None) -> dict[str, Any]:
        """POST /containers/create: returns ``{"Id": ..., "Warnings": [...]}``."""
        if not isinstance(config, dict):
            raise InvalidParameter("config must be an object")
        config = copy.deepcopy(config)
        nested = config.pop("HostConfig", None)
        networking = config.pop("NetworkingConfig", None)
        host_config = copy.deepcopy(host_config or nested or {})
        image_name = config.get("Image") or ""
        if not image_name:
            raise InvalidParameter("No image specified")
        policy = parse_restart_policy(host_config.get("RestartPolicy"))
        if host_config.get("AutoRemove") and policy[0] != "no":
            raise Conflict("Conflicting options: --restart and --rm")
        _spec.user_mounts(host_config)  # validate the mounts now, not at start
        _logdrivers.validate(host_config.get("LogConfig"))
        _health.validate(config.get("Healthcheck"))
        if name:
            full = _names.validate(name)
            other = self._name_in_use(full)
            if other is not None:
                raise Conflict(f'Conflict. The container name "{full}" is already in use by '
                               f'container "{other.id}". You have to remove (or rename) that '
                               "container to be able to reuse that name.")
        else:
            for retry in range(20):
                full = "/" + _names.generate(retry)
                if self._name_in_use(full) is None:
                    break
        cid = secrets.token_hex(32)
        try:
            image = await asyncio.to_thread(self.images.resolve, image_name)
        except LookupError:
            raise NotFound(f"No such image: {image_name}") from None
        image_cfg = await asyncio.to_thread(self._image_config, image)
        # Validate the command now (Docker: create fails without one).
        args = _spec.resolve_command(config, image_cfg)
        if host_config.get("Init"):
            args = [_spec.INIT_PATH, "--", *args]
        merged = self._merged_config(config, image_cfg, cid)
        now = time.time()
        host_config.setdefault("NetworkMode", "default")
        host_config.setdefault("RestartPolicy", {"Name": policy[0],
                                                 "MaximumRetryCount": policy[1]})
        host_config.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
        rec = {
            "ID": cid, "Name": full, "Created": rfc3339nano(int(now * 1e9)),
            "CreatedTs": now, "Path": args[0], "Args": args[1:],
            "Config": merged, "HostConfig": host_config, "Image": image.id,
            "SnapshotKey": f"container-{cid}", "RestartCount": 0,
            "HasBeenStartedBefore": False, "HasBeenManuallyStopped": False,
            "Driver": self._driver(),
            "State": _initial_state(), "MountPoints": [],
        }
        if networking:
            rec["NetworkingConfig"] = networking
        live = _Live(rec)
        # The name is claimed before any await that could let another create in.
        self._live[cid] = live
        made: list[str] = []
        try:
            if self.config.register_network is not None:
                await asyncio.to_thread(self.config.register_network, cid, full, host_config,
                                        networking)
            rec["MountPoints"], made = await asyncio.to_thread(
                self.volumes.prepare, cid, config, host_config, image_cfg)
            await asyncio.to_thread(self._create_files, live, image)
        except BaseException:
            self._live.pop(cid, None)
            await asyncio.to_thread(self._remove_files, rec)
            await asyncio.to_thread(self.volumes.abandon, cid, made, rec["MountPoints"])
            raise
        self._emit(live, "create")
        return {"Id": cid, "Warnings": []}

    def _driver(self) -> str:
        kind = type(self.images.snapshots).__name__
        return "overlay2" if "Overlay" in kind else "vfs"

    def _image_config(self, image: Any) -> dict[str, Any]:
        cfg = self.images.config_of(image).config
        return cfg.to_json() if cfg is not None else {}

    @staticmethod
    def _merged_config(config: dict[str, Any], image_cfg: dict[str, Any],
                       cid: str) -> dict[str, Any]:
        """inspect's Config: the user's, with the image's defaults filled in."""
        out = {
            "Hostname": config.get("Hostname") or cid[:12],
            "Domainname": config.get("Domainname") or "",
            "User": config.get("User") if config.get("User") is not None
            else image_cfg.get("User", ""),
            "AttachStdin": bool(config.get("AttachStdin")),
            "AttachStdout": bool(config.get("AttachStdout")),
            "AttachStderr": bool(config.get("AttachStderr")),
            "Tty": bool(config.get("Tty")),
            "OpenStdin": bool(config.get("OpenStdin")),
            "StdinOnce": bool(config.get("StdinOnce")),
            "Env": _spec.merge_env(image_cfg.get("Env"), config.get("Env")),
            "Cmd": config.get("Cmd") if config.get("Cmd")
            else (None if config.get("Entrypoint") is not None else image_cfg.get("Cmd")),
            "Image": config.get("Image"),
            "Volumes": config.get("Volumes") or image_cfg.get("Volumes"),
            "WorkingDir": config.get("WorkingDir") or image_cfg.get("WorkingDir", ""),
            "Entrypoint": config.get("Entrypoint") if config.get("Entrypoint") is not None
            else image_cfg.get("Entrypoint"),
            "OnBuild": image_cfg.get("OnBuild"),
            "Labels": {**(image_cfg.get("Labels") or {}), **(config.get("Labels") or {})},
        }
        if out["Entrypoint"] == [""] or out["Entrypoint"] == "":
            out["Entrypoint"] = None
        for key in ("ExposedPorts", "StopSignal", "StopTimeout"):
            value = config.get(key) if config.get(key) is not None else image_cfg.get(key)
            if value is not None:
                out[key] = value
        check = _health.merge(config.get("Healthcheck"), image_cfg.get("Healthcheck"))
        if check is not None:
            out["Healthcheck"] = check
        return out

    def _create_files(self, live: _Live, image: Any) -> None:
        from dockyard.store.snapshots import chain_key

        rec = live.rec
        chain = image.chain_ids
        parent = None
        if chain:
            layer = self.meta.get_layer(chain[-1])
            parent = layer.snapshot_key if layer is not None else chain_key(chain[-1])
        os.makedirs(self.container_dir(rec["ID"]), mode=0o710)
        self.images.snapshots.prepare(rec["SnapshotKey"], parent,
                                      labels={"dockyard.container": rec["ID"]})
        self._save(live)

    def _remove_files(self, rec: dict[str, Any]) -> None:
        cid = rec["ID"]
        self._release_network(cid)
        if self.config.forget_network is not None:
            with contextlib.suppress(Exception):
                self.config.forget_network(cid)
        self._unmount_rootfs(cid)
        with contextlib.suppress(Exception):
            self.images.snapshots.remove(rec["SnapshotKey"])
        shutil.rmtree(self.container_dir(cid), ignore_errors=True)
        shutil.rmtree(self.state_dir(cid), ignore_errors=True)
        self.meta.query("DELETE FROM containers WHERE id = ?", (cid,))

    # --- start -------------------------------------------------------------------

    async def start(self, ref: str) -> None:
        live = self._get(ref)
        async with live.lock:
            check("start", live.name, live.state)
            live.rec["HasBeenManuallyStopped"] = False
            try:
                await self._start_locked(live)
                return
            except EngineError as err:
                failure = err
        # As moby: a --rm container that failed to start is removed (`docker run --rm`
        # waits for that before it exits 125/126/127).
        if live.rec["HostConfig"].get("AutoRemove"):
            with contextlib.suppress(EngineError):
                await self.remove(live.id, force=True)
        raise failure

    async def _start_locked(self, live: _Live) -> None:
        try:
            info = await asyncio.to_thread(self._start_blocking, live.rec)
        except EngineError as err:
            self._start_failed(live, err.message)
            await self._persist(live)
            raise
        except Exception as err:
            message = str(err)
            self._start_failed(live, message)
            await self._persist(live)
            raise EngineError(message) from err
        st = live.rec["State"]
        st.update(Status="running", Running=True, Paused=False, Restarting=False,
                  OOMKilled=False, Dead=False, Pid=info["pid"], ExitCode=0, Error="",
                  StartedAt=info.get("started_at") or rfc3339nano())
        live.rec["HasBeenStartedBefore"] = True
        _health.begin(self, live, self._health)
        await self._persist(live)
        self._watch(live, info)
        self._emit(live, "start")

    def _start_failed(self, live: _Live, message: str) -> None:
        st = live.rec["State"]
        code = 127 if "not found" in message or "no such file" in message.lower() else 128
        if "permission denied" in message.lower():
            code = 126
        st.update(Error=message, ExitCode=code, Running=False, Restarting=False,
                  Pid=0, Status="created" if not live.rec["HasBeenStartedBefore"] else "exited")
        with contextlib.suppress(Exception):
            self._unmount_rootfs(live.id)

    def _start_blocking(self, rec: dict[str, Any]) -> dict[str, Any]:
        from dockyard.store.mounts import mount

        cid = rec["ID"]
        cdir = self.container_dir(cid)
        rootfs = self.rootfs(cid)
        sdir = self.state_dir(cid)
        shutil.rmtree(sdir, ignore_errors=True)
        os.makedirs(sdir, mode=0o700)
        with contextlib.suppress(Exception):
            # A leftover from a runtime container whose shim died.
            from dockyard.runtime.api import Container

            Container(self.runtime_root, cid).delete(force=True)
        os.makedirs(rootfs, exist_ok=True)
        self._unmount_rootfs(cid)
        mount(self.images.snapshots.mounts(rec["SnapshotKey"]), rootfs)
        try:
            hc = rec["HostConfig"]
            passwd = _read_in_root(rootfs, "/etc/passwd")
            group = _read_in_root(rootfs, "/etc/group")
            netns = None
            mode = hc.get("NetworkMode") or "default"
            if mode.startswith("container:"):
                # Join another running container's network namespace.
                other = self._get(mode.partition(":")[2])
                if other.state not in (State.RUNNING, State.PAUSED) or other.id == cid:
                    raise Conflict(f"cannot join network of a non running container: "
                                   f"{other.id}")
                netns = f"/proc/{other.rec['State']['Pid']}/ns/net"
            elif mode not in ("none", "host") and self.config.netns_for is not None:
                netns = self.config.netns_for(cid, rec)
            seccomp_profile = None
            for opt in hc.get("SecurityOpt") or []:
                key, _, value = opt.partition("=")
                if key == "seccomp" and value and value != "unconfined":
                    seccomp_profile = json.loads(value) if value.lstrip().startswith("{") \
                        else json.load(open(value))  # noqa: SIM115
            # inspect's Config already has the image's defaults merged in; the command is
            # the resolved Path + Args, given as the entrypoint so no rule applies twice.
            user_cfg = dict(rec["Config"])
            command = [rec["Path"], *rec["Args"]]
            user_cfg["Entrypoint"] = command[2:] if hc.get("Init") else command
            user_cfg["Cmd"] = None
            self._write_etc_files(cdir, rec, mode)
            oci = _spec.generate(_spec.SpecInputs(
                container_id=cid, config=user_cfg, host_config=hc,
                image_config={},
                rootfs=rootfs, container_dir=cdir, passwd=passwd, group=group,
                netns_path=netns, cgroup_parent=self.config.cgroup_parent,
                seccomp_profile=seccomp_profile,
                mounts=self.volumes.setup(rec, rootfs)))
            tmp = os.path.join(cdir, "config.json.tmp")
            with open(tmp, "w") as f:
                f.write(_spec.dumps(oci))
            os.replace(tmp, os.path.join(cdir, "config.json"))
            return self._launch_shim(rec)
        except BaseException:
            self._release_network(cid)
            self.volumes.teardown(rec)
            self._unmount_rootfs(cid)
            raise

    def _release_network(self, cid: str) -> None:
        if self.config.release_network is not None:
            with contextlib.suppress(Exception):
                self.config.release_network(cid)

    def _write_etc_files(self, cdir: str, rec: dict[str, Any], mode: str) -> None:
        if self.config.etc_files is not None:
            files = self.config.etc_files(rec, mode)
            if files is not None:
                for fname, text in files.items():
                    _write(os.path.join(cdir, fname), text)
                return
        cfg, hc = rec["Config"], rec["HostConfig"]
        hostname = cfg.get("Hostname") or rec["ID"][:12]
        if mode == "host":
            hostname = os.uname().nodename
            try:
                hosts = open("/etc/hosts").read()  # noqa: SIM115
            except OSError:
                hosts = "127.0.0.1\tlocalhost\n"
        else:
            hosts = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                     "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n"
                     "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
        for extra in hc.get("ExtraHosts") or []:
            host, _, addr = extra.partition(":")
            hosts += f"{addr}\t{host}\n"
        _write(os.path.join(cdir, "hosts"), hosts)
        _write(os.path.join(cdir, "hostname"), hostname + "\n")
        _write(os.path.join(cdir, "resolv.conf"), resolv_conf(hc, mode))

    def _launch_shim(self, rec: dict[str, Any]) -> dict[str, Any]:
        cid = rec["ID"]
        cfg, hc = rec["Config"], rec["HostConfig"]
        args: dict[str, Any] = {
            "id": cid, "bundle": self.container_dir(cid), "runtime_root": self.runtime_root,
            "state_dir": self.state_dir(cid), "tty": bool(cfg.get("Tty")),
            "stdin": bool(cfg.get("OpenStdin")), "stdin_once": bool(cfg.get("StdinOnce"))}
        log_path = _logdrivers.log_path(self.container_dir(cid), cid, hc)
        if log_path:
            os.makedirs(os.path.dirname(log_path), mode=0o700, exist_ok=True)
            max_size, max_file = _logdrivers.rotation(hc, self.config.log_max_size,
                                                      self.config.log_max_file)
            args.update(log_path=log_path, log_max_size=max_size, log_max_file=max_file)
        try:
            out = self._shim_launcher().launch(args)
        except TimeoutError:
            raise EngineError("timed out starting the container's shim") from None
        except OSError as err:
            raise EngineError(f"cannot start the container's shim: {err}") from None
        try:
            report = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise EngineError("the container's shim exited without a report") from None
        if "error" in report:
            message = report["error"]
            lowered = message.lower()
            # moby's translateContainerdStartErr: a bad command is the caller's error (400),
            # and the CLI derives exit 127 / 126 from these words.
            if any(w in lowered for w in ("not found", "no such file", "permission denied",
                                          "not a directory")):
                raise InvalidParameter(message)
            raise EngineError(message)
        with open(os.path.join(self.state_dir(cid), SHIM_FILE)) as f:
            return json.load(f)

    def _shim_launcher(self) -> Any:
        if self._shim_server is None:
            from .shimserver import ShimServer

            self._shim_server = ShimServer(self.config.python)
        return self._shim_server

    def _unmount_rootfs(self, cid: str) -> None:
        from dockyard.store.mounts import unmount

        rootfs = self.rootfs(cid)
        for _ in range(8):
            if not _is_mountpoint(rootfs):
                return
            try:
                unmount(rootfs)
            except OSError:
                unmount(rootfs, detach=True)

    # --- exit handling -----------------------------------------------------------

    def _watch(self, live: _Live, info: dict[str, Any]) -> None:
        """Be told when the shim exits: a pidfd in the event loop, no polling."""
        loop = asyncio.get_running_loop()
        from dockyard.runtime.state import process_start_time

        try:
            pidfd = os.pidfd_open(info["shim_pid"])
        except ProcessLookupError:
            pidfd = None
        if pidfd is not None and process_start_time(info["shim_pid"]) != info["shim_start"]:
            os.close(pidfd)
            pidfd = None
        if pidfd is None:
            self._spawn(self._on_exit(live))
            return
        live.watch_fd = pidfd

        def ready() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            live.watch_fd = None
            self._spawn(self._on_exit(live))

        loop.add_reader(pidfd, ready)

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _read_exit(self, cid: str) -> dict[str, Any]:
        try:
            with open(os.path.join(self.state_dir(cid), EXIT_FILE)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"exit_code": 255, "oom_killed": False, "finished_at": rfc3339nano(),
                    "error": "the container's shim exited without recording an exit status"}

    async def _on_exit(self, live: _Live) -> None:
        async with live.lock:
            await self._record_exit(live)
            # Decided under the same lock: a stop between the exit and this decision
            # would see "exited" and answer "already stopped" while a restart follows.
            restarting = await self._plan_restart(live)
        if not restarting:
            await self._auto_remove(live)

    async def _record_exit(self, live: _Live) -> None:
        _health.end(live, self._health)
        data = await asyncio.to_thread(self._read_exit, live.id)
        await asyncio.to_thread(self._cleanup_after_exit, live.id)
        st = live.rec["State"]
        st.update(Status="exited", Running=False, Paused=False, Restarting=False,
                  Pid=0, ExitCode=int(data["exit_code"]), OOMKilled=bool(data["oom_killed"]),
                  Error=data.get("error") or "", FinishedAt=data["finished_at"])
        await self._persist(live)
        if st["OOMKilled"]:
            self._emit(live, "oom")
        self._emit(live, "die", exitCode=str(st["ExitCode"]))
        waiters, live.exit_waiters = live.exit_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(st["ExitCode"])

    def _cleanup_after_exit(self, cid: str) -> None:
        with contextlib.suppress(Exception):
            from dockyard.runtime.api import Container

            Container(self.runtime_root, cid).delete(force=True)
        self._release_network(cid)
        self._unmount_rootfs(cid)
        live = self._live.get(cid)
        if live is not None:
            self.volumes.teardown(live.rec)

    async def _plan_restart(self, live: _Live) -> bool:
        """After an exit (caller holds live.lock): schedule the restart its policy asks for."""
        rec = live.rec
        if live.state != State.EXITED:
            return False
        policy = parse_restart_policy(rec["HostConfig"].get("RestartPolicy"))
        if not should_restart(policy, rec["State"]["ExitCode"], rec["RestartCount"],
                              rec["HasBeenManuallyStopped"]):
            return False
        ran = _elapsed(rec["State"]["StartedAt"], rec["State"]["FinishedAt"])
        live.backoff = next_backoff(live.backoff, ran)
        rec["State"].update(Status="restarting", Restarting=True)
        await self._persist(live)
        live.restart_task = self._spawn(self._restart_later(live, live.backoff))
        return True

    async def _auto_remove(self, live: _Live) -> None:
        if live.state == State.EXITED and live.rec["HostConfig"].get("AutoRemove"):
            with contextlib.suppress(EngineError):
                await self.remove(live.id, force=True)

    async def _restart_later(self, live: _Live, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            return
        async with live.lock:
            live.restart_task = None
            if live.state != State.RESTARTING:
                return
            live.rec["RestartCount"] += 1
            try:
                await self._start_locked(live)
            except EngineError:
                live.rec["State"].update(Status="exited", Restarting=False)
                await self._persist(live)

    # --- stop, kill, restart, pause ------------------------------------------------

    async def stop(self, ref: str, timeout: int | None = None,
                   signal: str | int | None = None) -> None:
        live = self._get(ref)
        # Under the lock: an exit being recorded (and its restart decided) is seen whole,
        # never as "exited" a moment before it turns "restarting". Not across the wait
        # below, which needs the exit handler to take the lock.
        async with live.lock:
            if live.state == State.RESTARTING:
                self._cancel_restart(live)
                live.rec["HasBeenManuallyStopped"] = True
                live.rec["State"].update(Status="exited", Restarting=False)
                await self._persist(live)
                return
            check("stop", live.name, live.state)
            live.rec["HasBeenManuallyStopped"] = True
            # The future first: the exit may be processed during any await below.
            exited = self._exit_future(live)
            await self._persist(live)
        if live.state not in (State.RUNNING, State.PAUSED):
            return
        if timeout is None:
            timeout = live.rec["Config"].get("StopTimeout")
        if timeout is None:
            timeout = self.config.default_stop_timeout
        sig = parse_signal(signal or live.rec["Config"].get("StopSignal") or "SIGTERM")
        if live.state == State.PAUSED:
            # A frozen process gets the signal once thawed; Docker thaws after signalling.
            await asyncio.to_thread(self._runtime_kill, live.id, sig, False)
            await asyncio.to_thread(self._runtime_call, live.id, "resume")
        else:
            await asyncio.to_thread(self._runtime_kill, live.id, sig, False)
        if timeout < 0:
            await exited
            return
        try:
            await asyncio.wait_for(asyncio.shield(exited), timeout)
        except TimeoutError:
            await asyncio.to_thread(self._runtime_kill, live.id, _signal.SIGKILL, True)
            await exited
        self._emit(live, "stop")

    def _exit_future(self, live: _Live) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        live.exit_waiters.append(fut)
        return fut

    def _runtime_kill(self, cid: str, sig: int, all_processes: bool) -> None:
        from dockyard.runtime.api import Container

        try:
            Container(self.runtime_root, cid).kill(sig, all_processes=all_processes)
        except Exception:  # the container is already gone: its exit is on the way
            pass

    def _runtime_call(self, cid: str, op: str) -> Any:
        from dockyard.runtime.api import Container

        return getattr(Container(self.runtime_root, cid), op)()

    def _cancel_restart(self, live: _Live) -> None:
        if live.restart_task is not None:
            live.restart_task.cancel()
            live.restart_task = None

    async def kill(self, ref: str, signal: str | int | None = None) -> None:
        live = self._get(ref)
        sig = parse_signal(signal or "SIGKILL")
        if live.state == State.RESTARTING and sig == _signal.SIGKILL:
            await self.stop(ref)
            return
        check("kill", live.name, live.state)
        if sig == _signal.SIGKILL:
            live.rec["HasBeenManuallyStopped"] = True
        await asyncio.to_thread(self._runtime_kill, live.id, sig, False)
        self._emit(live, "kill", signal=str(sig))

    async def restart(self, ref: str, timeout: int | None = None,
                      signal: str | int | None = None) -> None:
        live = self._get(ref)
        if live.state in (State.RUNNING, State.PAUSED, State.RESTARTING):
            await self.stop(ref, timeout, signal)
        async with live.lock:
            if live.state in (State.CREATED, State.EXITED):
                live.rec["HasBeenManuallyStopped"] = False
                await self._start_locked(live)
        self._emit(live, "restart")

    async def pause(self, ref: str) -> None:
        live = self._get(ref)
        async with live.lock:
            check("pause", live.name, live.state)
            await asyncio.to_thread(self._runtime_call, live.id, "pause")
            live.rec["State"].update(Status="paused", Paused=True)
            await self._persist(live)
        self._emit(live, "pause")

    async def unpause(self, ref: str) -> None:
        live = self._get(ref)
        async with live.lock:
            check("unpause", live.name, live.state)
            await asyncio.to_thread(self._runtime_call, live.id, "resume")
            live.rec["State"].update(Status="running", Paused=False)
            await self._persist(live)
        self._emit(live, "unpause")

    # --- wait, remove, rename ----------------------------------------------------

    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        """POST /containers/{id}/wait: ``{"StatusCode": N, "Error": None|{"Message"}}``."""
        live = self._get(ref)
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidParameter(f"invalid condition: \"{condition}\"")
        if condition == "removed":
            fut = asyncio.get_running_loop().create_future()
            live.remove_waiters.append(fut)
            code = await fut
        elif condition == "not-running" and live.state in (State.CREATED, State.EXITED,
                                                           State.DEAD):
            code = live.rec["State"]["ExitCode"]
        else:
            code = await self._exit_future(live)
        err = live.rec["State"].get("Error")
        return {"StatusCode": code, "Error": {"Message": err} if err else None}

    async def remove(self, ref: str, force: bool = False, volumes: bool = False,
                     link: bool = False) -> None:
        live = self._get(ref)
        if link:
            raise InvalidParameter("links are not supported")
        if live.state == State.REMOVING:
            raise refusal("remove", live.name, live.state)
        can_remove(live.name, live.state, force)
        if live.state in (State.RUNNING, State.PAUSED, State.RESTARTING):
            self._cancel_restart(live)
            live.rec["HasBeenManuallyStopped"] = True
            if live.state == State.RESTARTING:
                live.rec["State"].update(Status="exited", Restarting=False)
            else:
                exited = self._exit_future(live)
                if live.state == State.PAUSED:
                    await asyncio.to_thread(self._runtime_call, live.id, "resume")
                await asyncio.to_thread(self._runtime_kill, live.id, _signal.SIGKILL, True)
                await exited
        async with live.lock:
            if live.state == State.REMOVING:
                return
            if live.state in (State.RUNNING, State.PAUSED):
                # A start won the race for the lock: refuse rather than pull the rootfs
                # from under a running container.
                raise refusal("remove", live.name, live.state)
            live.rec["State"]["Status"] = "removing"
            _health.end(live, self._health)
            try:
                await asyncio.to_thread(self._remove_files, live.rec)
            except Exception as err:
                live.rec["State"].update(Status="dead", Dead=True)
                await self._persist(live)
                raise EngineError(f"unable to remove container {live.id}: {err}") from err
            self._live.pop(live.id, None)
            await asyncio.to_thread(self.volumes.forget, live.rec,
                                    volumes or bool(live.rec["HostConfig"].get("AutoRemove")))
            if self._execs is not None:
                self._execs.forget_container(live.id)
        self._emit(live, "destroy")
        for fut in live.remove_waiters:
            if not fut.done():
                fut.set_result(live.rec["State"]["ExitCode"])
        for fut in live.exit_waiters:
            if not fut.done():
                fut.set_result(live.rec["State"]["ExitCode"])

    async def rename(self, ref: str, new_name: str) -> None:
        live = self._get(ref)
        full = _names.validate(new_name)
        if full == live.name:
            raise Conflict(f"Renaming a container with the same name as its current "
                           f"name: {full}")
        other = self._name_in_use(full, but=live.id)
        if other is not None:
            raise Conflict(f'Conflict. The container name "{full}" is already in use by '
                           f'container "{other.id}". You have to remove (or rename) that '
                           "container to be able to reuse that name.")
        old = live.rec["Name"]
        live.rec["Name"] = full
        await self._persist(live)
        self._emit(live, "rename", oldName=old)

    # --- update -------------------------------------------------------------------

    UPDATABLE = ("CpuShares", "Memory", "MemorySwap", "MemoryReservation", "NanoCpus",
                 "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems", "PidsLimit",
                 "BlkioWeight", "KernelMemory", "RestartPolicy")

    async def update(self, ref: str, changes: dict[str, Any]) -> dict[str, Any]:
        """POST /containers/{id}/update: resources (applied live) and RestartPolicy."""
        live = self._get(ref)
        check("update", live.name, live.state)
        unknown = [k for k in changes if k not in self.UPDATABLE]
        if unknown:
            raise InvalidParameter(f"unsupported update field: {unknown[0]}")
        hc = copy.deepcopy(live.rec["HostConfig"])
        if "RestartPolicy" in changes:
            policy = parse_restart_policy(changes["RestartPolicy"])
            if policy[0] != "no" and hc.get("AutoRemove"):
                raise InvalidParameter("Restart policy cannot be updated because AutoRemove "
                                       "is enabled for the container")
            hc["RestartPolicy"] = {"Name": policy[0], "MaximumRetryCount": policy[1]}
        for key, value in changes.items():
            if key != "RestartPolicy" and value not in (None, 0, ""):
                hc[key] = value
        resources = _spec._resources({}, hc)
        if live.state in (State.RUNNING, State.PAUSED) and resources:
            def apply() -> None:
                from dockyard.runtime.api import Container

                Container(self.runtime_root, live.id).update(resources)

            try:
                await asyncio.to_thread(apply)
            except Exception as err:
                raise EngineError(f"Cannot update container {live.id}: {err}") from err
        live.rec["HostConfig"] = hc
        await self._persist(live)
        self._emit(live, "update")
        return {"Warnings": []}

    # --- attach, resize -----------------------------------------------------------

    async def attach(self, ref: str, *, stdin: bool = False, stdout: bool = True,
                     stderr: bool = True) -> Any:
        """A blocking socket connected to the container's shim: output arrives framed
        (8-byte headers; raw with a TTY), bytes sent go to the container's stdin."""
        live = self._get(ref)
        if live.state not in (State.RUNNING, State.PAUSED, State.RESTARTING):
            raise Conflict("You cannot attach to a stopped container, start it first")
        path = os.path.join(self.state_dir(live.id), ATTACH_SOCK)

        def connect() -> Any:
            from .shim import connect_attach

            sock = connect_attach(path)
            header = {"stdin": stdin, "stdout": stdout, "stderr": stderr}
            sock.sendall(json.dumps(header).encode() + b"\n")
            return sock

        try:
            return await asyncio.to_thread(connect)
        except OSError as err:
            raise Conflict(f"Container {live.name.lstrip('/')} is not running") from err

    async def resize(self, ref: str, height: int, width: int) -> None:
        live = self._get(ref)
        if not live.rec["Config"].get("Tty"):
            return
        check("exec", live.name, live.state)
        path = os.path.join(self.state_dir(live.id), ATTACH_SOCK)

        def send() -> None:
            from .shim import connect_attach

            sock = connect_attach(path)
            try:
                sock.sendall(json.dumps({"resize": [height, width]}).encode() + b"\n")
                sock.recv(1)
            finally:
                sock.close()

        await asyncio.to_thread(send)

    # --- inspect, list -----------------------------------------------------------

    async def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        live = self._get(ref)
        info = self._inspect(live)
        if size:
            info["SizeRw"], info["SizeRootFs"] = await asyncio.to_thread(self.sizes, live.id)
        return info

    def sizes(self, ref: str) -> tuple[int, int]:
        """``(SizeRw, SizeRootFs)``: the bytes of the writable layer, and those plus the
        image's layers (blocking: walks the writable layer)."""
        live = self._get(ref)
        snaps = self.images.snapshots
        chain = snaps.metadata.snapshot_chain(live.rec["SnapshotKey"])
        if not chain:
            return 0, 0
        total = 0
        rw = 0
        for i, snap in enumerate(chain):
            try:
                used = snaps.usage(snap.key).size
            except Exception:  # removed meanwhile
                used = 0
            total += used
            if i == 0:
                rw = used
        return rw, total

    def _inspect(self, live: _Live) -> dict[str, Any]:
        rec = live.rec
        st = dict(rec["State"])
        hc = copy.deepcopy(rec["HostConfig"])
        mounts = self.volumes.inspect_mounts(rec)
        cid = rec["ID"]
        return {
            "Id": cid, "Created": rec["Created"], "Path": rec["Path"], "Args": rec["Args"],
            "State": st, "Image": rec["Image"],
            "ResolvConfPath": os.path.join(self.container_dir(cid), "resolv.conf"),
            "HostnamePath": os.path.join(self.container_dir(cid), "hostname"),
            "HostsPath": os.path.join(self.container_dir(cid), "hosts"),
            "LogPath": self.log_path(cid), "Name": rec["Name"],
            "RestartCount": rec["RestartCount"], "Driver": rec["Driver"],
            "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
            "ExecIDs": (self._execs.ids_for(cid) or None) if self._execs else None,
            "HostConfig": hc,
            "GraphDriver": {"Name": rec["Driver"], "Data": {
                "MergedDir": self.rootfs(cid),
            }},
            "Mounts": mounts, "Config": copy.deepcopy(rec["Config"]),
            "NetworkSettings": {
                "Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {},
                "HairpinMode": False, "LinkLocalIPv6Address": "",
                "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": None,
                "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "",
                "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "", "Networks": {},
            },
        }

    async def list(self, all: bool = False, filters: dict[str, list[str]] | None = None,
                   limit: int = -1) -> list[dict[str, Any]]:
        filters = filters or {}
        known = {"status", "name", "id", "label", "exited", "ancestor", "before", "since",
                 "network", "volume", "health", "publish", "expose", "isolation", "is-task"}
        for key, values in filters.items():
            if key not in known:
                raise InvalidParameter(f"invalid filter '{key}'")
            for v in values if key == "status" else ():
                if v not in {st.value for st in State}:
                    raise InvalidParameter(f"Invalid filter 'status={v}'")
            for v in values if key == "exited" else ():
                if not v.lstrip("-").isdigit():
                    raise InvalidParameter(f"invalid filter 'exited={v}'")
        out = []
        lives = sorted(self._live.values(), key=lambda lv: lv.rec["CreatedTs"], reverse=True)
        for live in lives:
            if not all and not filters.get("status") and live.state not in (
                    State.RUNNING, State.PAUSED, State.RESTARTING):
                continue
            if not await asyncio.to_thread(self._matches, live, filters):
                continue
            out.append(self._summary(live))
            if limit > 0 and len(out) >= limit:
                break
        return out

    def _matches(self, live: _Live, filters: dict[str, list[str]]) -> bool:
        rec = live.rec
        for key, values in filters.items():
            if not values:
                continue
            if key == "status":
                if live.state.value not in values:
                    return False
            elif key == "name":
                import re

                if not any(re.search(v, rec["Name"]) for v in values):
                    return False
            elif key == "id":
                if not any(rec["ID"].startswith(v) for v in values):
                    return False
            elif key == "label":
                labels = rec["Config"].get("Labels") or {}
                for v in values:
                    k, sep, val = v.partition("=")
                    if k not in labels or (sep and labels[k] != val):
                        return False
            elif key == "exited":
                if live.state != State.EXITED or str(rec["State"]["ExitCode"]) not in values:
                    return False
            elif key == "ancestor":
                if not any(self._is_ancestor(v, rec) for v in values):
                    return False
            elif key in ("before", "since"):
                try:
                    other = self._get(values[0]).rec["CreatedTs"]
                except NotFound:
                    return False
                if key == "before" and not rec["CreatedTs"] < other:
                    return False
                if key == "since" and not rec["CreatedTs"] > other:
                    return False
            elif key == "health":
                health = rec["State"].get("Health")
                status = health.get("Status") if health and live.state == State.RUNNING \
                    else "none"
                if status not in values:
                    return False
            elif key == "volume":
                points = rec.get("MountPoints") or []
                if not any(v in (mp.get("Name"), mp.get("Destination"), mp.get("Source"))
                           for v in values for mp in points):
                    return False
            elif key in ("network", "volume", "publish", "expose", "isolation",
                         "is-task"):
                continue  # not tracked yet: no container matches is wrong, all is closer
            else:
                raise InvalidParameter(f"invalid filter '{key}'")
        return True

    def _is_ancestor(self, value: str, rec: dict[str, Any]) -> bool:
        if rec["Config"].get("Image") == value:
            return True
        try:
            return self.images.resolve(value).id == rec["Image"]
        except LookupError:
            return False

    def _summary(self, live: _Live) -> dict[str, Any]:
        rec = live.rec
        command = " ".join([rec["Path"], *rec["Args"]])
        return {
            "Id": rec["ID"], "Names": [rec["Name"]], "Image": rec["Config"].get("Image"),
            "ImageID": rec["Image"], "Command": command, "Created": int(rec["CreatedTs"]),
            "Ports": [], "Labels": rec["Config"].get("Labels") or {},
            "State": live.state.value, "Status": human_status(rec["State"]),
            "HostConfig": {"NetworkMode": rec["HostConfig"].get("NetworkMode", "default")},
            "NetworkSettings": {"Networks": {}},
            "Mounts": self.volumes.inspect_mounts(rec),
        }

    # --- logs, top ---------------------------------------------------------------

    async def logs(self, ref: str, *, stdout: bool = True, stderr: bool = True,
                   follow: bool = False, since: float = 0, until: float = 0,
                   timestamps: bool = False, tail: int | str = "all"
                   ) -> AsyncIterator[LogEntry]:
        """Entries of the json-file log; with ``timestamps`` each data is prefixed."""
        live = self._get(ref)
        _logdrivers.check_readable(live.rec["HostConfig"])
        path = self.log_path(live.id)
        since_ns = int(since * 1e9)
        until_ns = int(until * 1e9)
        streams = {"stdout"} if stdout else set()
        if stderr:
            streams.add("stderr")
        cursor = _LogCursor(path)
        n_tail = -1 if tail in ("all", "", None) else int(tail)
        if not (since_ns or until_ns or timestamps) and n_tail < 0:
            # The whole log as it is: decoded in bulk, many lines per entry.
            try:
                async for item in self._logs_bulk(live, cursor, streams, follow):
                    yield item
            finally:
                cursor.close()
            return
        try:
            entries = await asyncio.to_thread(cursor.initial)
            if n_tail >= 0:
                entries = entries[len(entries) - n_tail:] if n_tail else []
            for entry in entries:
                item = _entry(entry, streams, since_ns, until_ns, timestamps)
                if item is not None:
                    yield item
            if not follow:
                return
            # TODO: inotify instead of polling every 100 ms.
            while True:
                running = live.state in (State.RUNNING, State.PAUSED, State.RESTARTING)
                entries = await asyncio.to_thread(cursor.more)
                for entry in entries:
                    item = _entry(entry, streams, since_ns, until_ns, timestamps)
                    if item is not None:
                        yield item
                if until_ns and time.time_ns() > until_ns:
                    return
                if not entries:
                    if not running or self._live.get(live.id) is not live:
                        return
                    await asyncio.sleep(0.1)
        finally:
            cursor.close()

    async def _logs_bulk(self, live: _Live, cursor: _LogCursor, streams: set[str],
                         follow: bool) -> AsyncIterator[LogEntry]:
        from .jsonlog import decode_records

        for name in await asyncio.to_thread(cursor.open_raw):
            blob = await asyncio.to_thread(_read_file, name)
            for stream, data in decode_records(blob, streams):
                yield LogEntry(stream, data, "")
        # Without follow: what the log held when asked, not what a busy container
        # writes while we read.
        stop = -1 if follow or cursor.file is None else os.fstat(cursor.file.fileno()).st_size
        done = 0
        while True:
            running = live.state in (State.RUNNING, State.PAUSED, State.RESTARTING)
            blob = await asyncio.to_thread(cursor.more_raw)
            done += len(blob)
            for stream, data in decode_records(blob, streams):
                yield LogEntry(stream, data, "")
            if not follow and (not blob or done >= stop):
                return
            if not blob:
                if not running or self._live.get(live.id) is not live:
                    return
                await asyncio.sleep(0.1)

    async def top(self, ref: str, ps_args: str = "-ef") -> dict[str, Any]:
        live = self._get(ref)
        check("top", live.name, live.state)
        return await asyncio.to_thread(self._top, live.id, ps_args)

    def _top(self, cid: str, ps_args: str) -> dict[str, Any]:
        pids = set(self._runtime_call(cid, "pids"))
        out = subprocess.run(["ps", *ps_args.split()], capture_output=True, text=True,
                             check=False)
        if out.returncode != 0:
            raise EngineError(f"Error running ps: {out.stderr.strip()}")
        lines = out.stdout.splitlines()
        titles = lines[0].split()
        if "PID" not in titles:
            raise EngineError("Couldn't find PID field in ps output")
        col = titles.index("PID")
        procs = []
        for line in lines[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
                procs.append(fields)
        return {"Titles": titles, "Processes": procs}

    # --- restore -----------------------------------------------------------------

    async def restore(self) -> None:
        """Load every container; re-adopt those whose shims still run (live restore),
        record the exit of the others; then restart what the policies say."""
        rows = await asyncio.to_thread(self.meta.query, "SELECT config FROM containers")
        to_start = []
        for row in rows:
            rec = json.loads(row["config"])
            live = _Live(rec)
            self._live[rec["ID"]] = live
            if live.state in (State.RUNNING, State.PAUSED, State.RESTARTING):
                info = await asyncio.to_thread(self._alive_shim, rec["ID"])
                if info is not None:
                    paused = await asyncio.to_thread(self._is_paused, rec["ID"])
                    rec["State"].update(Status="paused" if paused else "running",
                                        Running=True, Paused=paused, Restarting=False,
                                        Pid=info["pid"])
                    _health.begin(self, live, self._health)
                    await self._persist(live)
                    await asyncio.to_thread(self.volumes.adopt, rec)
                    self._watch(live, info)
                    continue
                async with live.lock:
                    await self._record_exit(live)
                    # It exited while nobody watched: its restart policy applies now.
                    restarting = await self._plan_restart(live)
                if not restarting:
                    await self._auto_remove(live)
                continue
            elif live.state == State.REMOVING:
                rec["State"].update(Status="dead", Dead=True)
                await self._persist(live)
            policy = parse_restart_policy(rec["HostConfig"].get("RestartPolicy"))
            if live.state == State.EXITED and policy[0] in ("always", "unless-stopped") \
                    and not rec["HasBeenManuallyStopped"]:
                to_start.append(live)
        for live in to_start:
            async with live.lock:
                with contextlib.suppress(EngineError):
                    await self._start_locked(live)
        await asyncio.to_thread(self.volumes.store.settle)
        self._restored = True

    def _alive_shim(self, cid: str) -> dict[str, Any] | None:
        from dockyard.runtime.state import process_start_time

        sdir = self.state_dir(cid)
        if os.path.exists(os.path.join(sdir, EXIT_FILE)):
            return None
        try:
            with open(os.path.join(sdir, SHIM_FILE)) as f:
                info = json.load(f)
        except (OSError, ValueError):
            return None
        if process_start_time(info["shim_pid"]) != info["shim_start"]:
            return None
        return info

    def _is_paused(self, cid: str) -> bool:
        try:
            return self._runtime_call(cid, "status").value == "paused"
        except Exception:
            return False

    async def close(self) -> None:
        """Stop watching (the containers keep running: live restore)."""
        loop = asyncio.get_running_loop()
        for monitor in list(self._health.values()):
            monitor.stop()
        self._health.clear()
        for live in self._live.values():
            self._cancel_restart(live)
            if live.watch_fd is not None:
                loop.remove_reader(live.watch_fd)
                os.close(live.watch_fd)
                live.watch_fd = None
            for fut in live.exit_waiters + live.remove_waiters:
                fut.cancel()
        self._live.clear()
        if self._shim_server is not None:
            await asyncio.to_thread(self._shim_server.close)
            self._shim_server = None

    def ids(self) -> list[str]:
        return list(self._live)


# --- helpers ---------------------------------------------------------------------------


def _initial_state() -> dict[str, Any]:
    return {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
            "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME}


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def resolv_conf(hc: dict[str, Any], mode: str) -> str:
    try:
        with open("/etc/resolv.conf") as f:
            host = f.read()
    except OSError:
        host = ""
    servers = list(hc.get("Dns") or [])
    search = list(hc.get("DnsSearch") or [])
    options = list(hc.get("DnsOptions") or [])
    lines_out = []
    for line in host.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "nameserver" and len(parts) > 1:
            if mode != "host" and (parts[1].startswith("127.") or parts[1] == "::1"):
                continue  # the host's loopback resolver is not reachable from a netns
            if not hc.get("Dns"):
                servers.append(parts[1])
        elif parts[0] == "search" and not hc.get("DnsSearch"):
            search.extend(parts[1:])
        elif parts[0] == "options" and not hc.get("DnsOptions"):
            options.extend(parts[1:])
    if not servers and mode != "host":
        servers = ["8.8.8.8", "8.8.4.4"]
    if search:
        lines_out.append("search " + " ".join(search))
    lines_out += [f"nameserver {s}" for s in servers]
    if options:
        lines_out.append("options " + " ".join(options))
    return "\n".join(lines_out) + "\n"


def _read_in_root(root: str, path: str, limit: int = 1 << 20) -> str | None:
    """A file of the container's rootfs, resolved inside it (symlinks cannot escape)."""
    from dockyard.runtime.linux.syscalls import LinuxSyscalls
    from dockyard.runtime.saferoot import open_in_root

    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = open_in_root(LinuxSyscalls(), root_fd, path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    finally:
        os.close(root_fd)
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _is_mountpoint(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)
    except OSError:
        return False


def parse_signal(sig: str | int) -> int:
    if isinstance(sig, int):
        return sig
    text = str(sig).upper()
    if text.isdigit():
        return int(text)
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(getattr(_signal, text))
    except AttributeError:
        if text.startswith("SIGRTMIN+"):
            return _signal.SIGRTMIN + int(text[9:])
        raise InvalidParameter(f"Invalid signal: {sig}") from None


def _elapsed(started: str, finished: str) -> float:
    try:
        return (parse_time_ns(finished) - parse_time_ns(started)) / 1e9
    except ValueError:
        return 0.0


def human_duration(seconds: float) -> str:
    """Go's units.HumanDuration, as `docker ps` prints it."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def human_status(st: dict[str, Any], now_ns: int | None = None) -> str:
    now_ns = now_ns or time.time_ns()
    status = st["Status"]
    if status in ("running", "paused"):
        try:
            up = human_duration((now_ns - parse_time_ns(st["StartedAt"])) / 1e9)
        except ValueError:
            up = "Less than a second"
        return f"Up {up}" + (" (Paused)" if status == "paused" else _health.status_suffix(st))
    if status == "restarting":
        try:
            ago = human_duration((now_ns - parse_time_ns(st["FinishedAt"])) / 1e9)
        except ValueError:
            ago = "Less than a second"
        return f"Restarting ({st['ExitCode']}) {ago} ago"
    if status == "exited":
        try:
            ago = human_duration((now_ns - parse_time_ns(st["FinishedAt"])) / 1e9)
        except ValueError:
            ago = "Less than a second"
        return f"Exited ({st['ExitCode']}) {ago} ago"
    if status == "removing":
        return "Removal In Progress"
    if status == "dead":
        return "Dead"
    return "Created"


def _entry(entry: dict[str, Any], streams: set[str], since_ns: int, until_ns: int,
           timestamps: bool) -> LogEntry | None:
    if entry.get("stream") not in streams:
        return None
    stamp = entry.get("time", "")
    if since_ns or until_ns:
        try:
            t = parse_time_ns(stamp)
        except ValueError:
            return None
        if since_ns and t < since_ns:
            return None
        if until_ns and t > until_ns:
            return None
    data = entry.get("log", "").encode()
    if timestamps:
        data = stamp.encode() + b" " + data
    return LogEntry(entry["stream"], data, stamp)


class _LogCursor:
    """Reads a json-file log and then follows it across rotations: the newest file is
    held open, so lines written to it just before it is renamed are not lost."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file: Any = None
        self.buf = b""

    def _open(self) -> None:
        try:
            self.file = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            self.file = None

    def initial(self) -> list[dict[str, Any]]:
        self._open()
        entries: list[dict[str, Any]] = []
        for name in log_files(self.path)[:-1]:
            entries.extend(read_entries_of(name))
        return entries + self._lines()

    def _lines(self) -> list[dict[str, Any]]:
        if self.file is None:
            return []
        self.buf += self.file.read()
        *lines, self.buf = self.buf.split(b"\n")
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def more(self) -> list[dict[str, Any]]:
        if self.file is None:
            self._open()
            return self._lines()
        out = self._lines()
        if not out:
            try:
                rotated = os.stat(self.path).st_ino != os.fstat(self.file.fileno()).st_ino
            except FileNotFoundError:
                rotated = False
            if rotated:
                out = self._lines()  # whatever reached the old file before the rename
                self.file.close()
                self.buf = b""
                self._open()
                out += self._lines()
        return out

    def open_raw(self) -> list[str]:
        """Open the newest file; the rotated ones, oldest first (for bulk reads)."""
        self._open()
        return log_files(self.path)[:-1]

    def _raw(self, limit: int) -> bytes:
        if self.file is None:
            return b""
        self.buf += self.file.read(limit)
        end = self.buf.rfind(b"\n") + 1
        blob, self.buf = self.buf[:end], self.buf[end:]
        return blob

    def more_raw(self, limit: int = 4 << 20) -> bytes:
        """Complete records from where the last read ended, across a rotation."""
        if self.file is None:
            self._open()
            return self._raw(limit)
        out = self._raw(limit)
        if not out:
            try:
                rotated = os.stat(self.path).st_ino != os.fstat(self.file.fileno()).st_ino
            except FileNotFoundError:
                rotated = False
            if rotated:
                out = self._raw(-1)  # whatever reached the old file before the rename
                self.file.close()
                self.buf = b""
                self._open()
                out += self._raw(limit)
        return out

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _read_file(name: str) -> bytes:
    try:
        with open(name, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return b""
    return data[: data.rfind(b"\n") + 1]


def read_entries_of(name: str) -> list[dict[str, Any]]:
    out = []
    try:
        with open(name, "rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    with contextlib.suppress(ValueError):
                        out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out
