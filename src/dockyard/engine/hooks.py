"""The engine behind ``dockyardd``: :func:`create_engine` gives the API its
:class:`~dockyard.api.hooks.EngineHooks`, backed by a :class:`ContainerEngine` and a
:class:`~dockyard.network.manager.NetworkManager` (the default ``bridge``).

Wiring, in start order:

1. the network manager, state under ``<exec-root>/network``, namespaces pinned under
   ``<exec-root>/netns`` (``dockyard0``, Docker's default pool unless overridden);
2. ``ContainerEngine.open`` (live restore: running containers are re-adopted), with the
   manager as ``netns_for``/``release_network`` and ``network.etcfiles`` as ``etc_files``;
3. ``NetworkManager.restore`` keeps the endpoints of the containers still alive and
   removes every other leftover;
4. engine events go to the API's event bus.

Test hooks (no dockerd flag exists for them yet), read from the environment when the
daemon config has no such attribute: ``DOCKYARD_CGROUP_PARENT``, ``DOCKYARD_BRIDGE``,
``DOCKYARD_BRIDGE_SUBNET``, ``DOCKYARD_NAT_TABLE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from pathlib import Path
from typing import Any

from dockyard.api.hooks import CommitSource, ContainerCounts, EngineHooks

from .containers import ContainerEngine, EngineConfig
from .state import State

log = logging.getLogger("dockyard.engine")


def _setting(config: Any, attr: str, env: str, default: Any = None) -> Any:
    value = getattr(config, attr, None)
    if value:
        return value
    return os.environ.get(env) or default


class DaemonEngine(EngineHooks):
    def __init__(self, config: Any, store: Any, events: Any) -> None:
        self.config = config
        self.store = store
        self.events = events
        self.engine: ContainerEngine | None = None
        self.network: Any = None
        self._unsubscribe: Any = None

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        from dockyard.network.manager import DEFAULT_BRIDGE, NetworkManager
        from dockyard.network.nat import DEFAULT_TABLE

        exec_root = Path(self.config.exec_root)
        data_root = Path(self.config.data_root)
        self.network = await asyncio.to_thread(
            NetworkManager, exec_root, exec_root / "network",
            bridge=_setting(self.config, "bridge", "DOCKYARD_BRIDGE", DEFAULT_BRIDGE),
            subnet=_setting(self.config, "bip", "DOCKYARD_BRIDGE_SUBNET", None),
            nat_table=_setting(self.config, "nat_table", "DOCKYARD_NAT_TABLE", DEFAULT_TABLE))
        log_opts = getattr(self.config, "log_opts", {}) or {}
        ecfg = EngineConfig(
            cgroup_parent=_setting(self.config, "cgroup_parent", "DOCKYARD_CGROUP_PARENT",
                                   "dockyard"),
            netns_for=self._netns_for, release_network=self._release_network,
            etc_files=self._etc_files)
        if log_opts.get("max-size"):
            from .spec import parse_bytes

            ecfg.log_max_size = parse_bytes(log_opts["max-size"], "max-size")
        if log_opts.get("max-file"):
            ecfg.log_max_file = int(log_opts["max-file"])
        self.engine = await ContainerEngine.open(str(data_root), str(exec_root), self.store,
                                                 ecfg)
        alive = {c["Id"] for c in await self.engine.list(all=True)
                 if c["State"] in ("running", "paused", "restarting")}
        try:
            await asyncio.to_thread(self.network.restore, alive)
        except Exception:  # networking trouble must not keep the daemon down
            log.exception("network restore")
        self._unsubscribe = self.engine.subscribe(self.events.publish_event)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.engine is not None:
            await self.engine.close()  # containers keep running (live restore)

    # --- network hooks (called from the engine's worker threads) ------------------

    def _netns_for(self, cid: str, host_config: dict[str, Any]) -> str | None:
        assert self.engine is not None
        engine = self.engine

        def resolve(ref: str) -> str:
            return engine._get(ref).id

        return self.network.netns_for(cid, host_config, resolve)

    def _release_network(self, cid: str) -> None:
        if self.network is not None:
            self.network.detach(cid)

    def _etc_files(self, rec: dict[str, Any], mode: str) -> dict[str, str] | None:
        from dockyard.network import etcfiles

        mode = "bridge" if mode in ("", "default") else mode
        if mode.startswith("container:"):
            return None
        cfg, hc = rec["Config"], rec["HostConfig"]
        att = self.network.get(rec["ID"]) if self.network is not None else None
        gateway = att.gateway if att is not None and att.gateway else None
        extra = [etcfiles.parse_add_host(h, gateway) for h in hc.get("ExtraHosts") or []]
        _, host_resolv = etcfiles.pick_host_resolv_conf()
        host_hosts = ""
        hostname = cfg.get("Hostname") or rec["ID"][:12]
        if mode == "host":
            hostname = socket.gethostname()
            with contextlib.suppress(OSError):
                host_hosts = Path("/etc/hosts").read_text()
        return etcfiles.container_etc_files(
            mode, hostname=hostname, ip=att.ip if att is not None and att.ip else None,
            domainname=cfg.get("Domainname") or "", extra_hosts=extra,
            dns=hc.get("Dns") or (), dns_search=hc.get("DnsSearch") or (),
            dns_options=hc.get("DnsOptions") or (), host_hosts=host_hosts,
            host_resolv=host_resolv)

    def network_settings(self, info: dict[str, Any]) -> dict[str, Any]:
        """inspect's NetworkSettings: from the attachment while there is one."""
        mode = info["HostConfig"].get("NetworkMode") or "default"
        name = "bridge" if mode == "default" else mode
        att = self.network.get(info["Id"]) if self.network is not None else None
        if att is not None:
            return att.network_settings()
        settings = dict(info["NetworkSettings"])
        if name in ("bridge", "host", "none"):
            settings["Networks"] = {name: {
                "IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "",
                "DriverOpts": None, "NetworkID": "", "EndpointID": "", "Gateway": "",
                "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "DNSNames": None}}
        return settings

    # --- what the API asks --------------------------------------------------------

    def routes(self) -> list[tuple[str, str, object]]:
        from dockyard.api import containers

        routes: list[tuple[str, str, object]] = list(containers.routes(self))
        try:
            from dockyard.api import exec as exec_api  # another engineer's module
        except ImportError:
            exec_api = None
        if exec_api is not None and hasattr(exec_api, "exec_routes"):
            routes += list(exec_api.exec_routes(self.engine))
        from dockyard.api.archive import archive_routes  # archive, changes, export

        routes += list(archive_routes(self))
        return routes

    def _records(self) -> list[dict[str, Any]]:
        if self.engine is None:
            return []
        return [live.rec for live in list(self.engine._live.values())]

    def images_in_use(self) -> set[str]:
        return {rec["Image"] for rec in self._records() if rec.get("Image")}

    def container_counts(self) -> ContainerCounts:
        total = running = paused = 0
        for rec in self._records():
            total += 1
            status = rec["State"]["Status"]
            if status == State.PAUSED.value:
                paused += 1
            elif status in (State.RUNNING.value, State.RESTARTING.value):
                running += 1
        return ContainerCounts(total=total, running=running, paused=paused,
                               stopped=total - running - paused)

    def containers_per_image(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rec in self._records():
            if rec.get("Image"):
                out[rec["Image"]] = out.get(rec["Image"], 0) + 1
        return out

    def disk_usage(self) -> dict[str, list[dict[str, object]]]:
        if self.engine is None:
            return {"Containers": [], "Volumes": []}
        containers = []
        for live in list(self.engine._live.values()):
            summary = self.engine._summary(live)
            summary["SizeRw"] = 0  # not computed yet
            summary["SizeRootFs"] = 0
            containers.append(summary)
        return {"Containers": containers, "Volumes": []}

    def commit_source(self, container: str) -> CommitSource:
        from dockyard.api.errors import NotFound

        from .errors import NotFound as EngineNotFound

        if self.engine is None:
            raise NotFound(f"No such container: {container}")
        try:
            live = self.engine._get(container)
        except EngineNotFound as err:
            raise NotFound(err.message) from None
        rec = live.rec
        return CommitSource(container_id=rec["ID"], snapshot_key=rec["SnapshotKey"],
                            image_id=rec.get("Image"), config=dict(rec["Config"]))

    def info_extra(self) -> dict[str, object]:
        return {"LiveRestoreEnabled": bool(getattr(self.config, "live_restore", True))}


def create_engine(config: Any, store: Any, events: Any) -> DaemonEngine:
    return DaemonEngine(config, store, events)
