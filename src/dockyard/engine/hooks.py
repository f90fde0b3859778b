"""The engine behind ``dockyardd``: :func:`create_engine` gives the API its
:class:`~dockyard.api.hooks.EngineHooks`, backed by a :class:`ContainerEngine` and a
:class:`~dockyard.network.manager.NetworkManager` (the default ``bridge``).

Wiring, in start order:

1. the network manager (``self.network``): networks and endpoints in metadata.db,
   namespaces pinned under ``<exec-root>/netns`` (``dockyard0``, Docker's default pools
   or ``--default-address-pool``, ``--bip``), network events to the API's event bus;
2. ``ContainerEngine.open`` (live restore: running containers are re-adopted), with the
   manager as ``register_network``/``netns_for``/``release_network``/``forget_network``
   and ``network.etcfiles`` as ``etc_files``;
3. ``NetworkManager.restore`` keeps the endpoints of the containers still alive and
   removes every other leftover;
4. engine events go to the API's event bus.

Test hooks, read from the environment when the daemon config has no such setting:
``DOCKYARD_CGROUP_PARENT``, ``DOCKYARD_BRIDGE``, ``DOCKYARD_BRIDGE_SUBNET`` (``--bip``),
``DOCKYARD_NAT_TABLE``, ``DOCKYARD_DEFAULT_ADDRESS_POOL`` (``base=CIDR,size=N``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dockyard.api.hooks import CommitSource, ContainerCounts, EngineHooks

from .containers import ContainerEngine, EngineConfig
from .errors import Conflict
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
        exec_root = Path(self.config.exec_root)
        data_root = Path(self.config.data_root)
        self.network = await asyncio.to_thread(self._network_manager, exec_root)
        log_opts = getattr(self.config, "log_opts", {}) or {}
        ecfg = EngineConfig(
            cgroup_parent=_setting(self.config, "cgroup_parent", "DOCKYARD_CGROUP_PARENT",
                                   "dockyard"),
            netns_for=self._netns_for, release_network=self._release_network,
            register_network=self._register_network, forget_network=self._forget_network,
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
            await asyncio.to_thread(self.network.restore, alive, self._record)
        except Exception:  # networking trouble must not keep the daemon down
            log.exception("network restore")
        self._unsubscribe = self.engine.subscribe(self._on_container_event)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.engine is not None:
            await self.engine.close()  # containers keep running (live restore)
        if self.network is not None:
            await asyncio.to_thread(self.network.close)

    def _on_container_event(self, event: dict[str, Any]) -> None:
        if event["Action"] == "rename" and self.network is not None:
            # the embedded DNS answers by the container's current name
            self.network.rename(event["id"], event["Actor"]["Attributes"]["name"])
        self.events.publish_event(event)

    # --- network hooks (called from the engine's worker threads) ------------------

    def _network_manager(self, exec_root: Path) -> Any:
        from dockyard.network.ipam import AddressPool
        from dockyard.network.manager import DEFAULT_BRIDGE, DEFAULT_TABLE, NetworkManager

        pools = list(getattr(self.config, "default_address_pools", None) or [])
        if not pools and os.environ.get("DOCKYARD_DEFAULT_ADDRESS_POOL"):
            pools = [AddressPool.parse(p)
                     for p in os.environ["DOCKYARD_DEFAULT_ADDRESS_POOL"].split(";") if p]
        return NetworkManager(
            self.store.meta, exec_root,
            bridge=_setting(self.config, "bridge", "DOCKYARD_BRIDGE", DEFAULT_BRIDGE),
            bip=_setting(self.config, "bip", "DOCKYARD_BRIDGE_SUBNET", None),
            nat_table=_setting(self.config, "nat_table", "DOCKYARD_NAT_TABLE", DEFAULT_TABLE),
            default_pools=pools or None,
            icc=getattr(self.config, "icc", True),
            ip_forward=getattr(self.config, "ip_forward", True),
            mtu=int(getattr(self.config, "mtu", 0) or 1500),
            default_dns=self._default_dns(),
            emit=self._emit_network)

    def _default_dns(self) -> list[str]:
        """dockerd's --dns: for containers that name no DNS server of their own."""
        return list(getattr(self.config, "dns", None) or [])

    def _emit_network(self, *, type: str, action: str, actor_id: str,
                      attributes: dict[str, str]) -> None:
        self.events.publish(type, action, actor_id, attributes)

    def _record(self, cid: str) -> dict[str, Any] | None:
        live = self.engine._live.get(cid) if self.engine is not None else None
        return live.rec if live is not None else None

    @staticmethod
    @contextlib.contextmanager
    def _as_engine_errors() -> Iterator[None]:
        """The network's errors as the engine's, keeping their status and message."""
        from dockyard.network.errors import NetworkError

        from .errors import EngineError

        try:
            yield
        except NetworkError as err:
            out = EngineError(str(err))
            out.status = err.status
            raise out from err

    def _register_network(self, cid: str, name: str, host_config: dict[str, Any],
                          networking: Any) -> None:
        from dockyard.network.errors import NotFound

        with self._as_engine_errors():
            try:
                self.network.register(cid, name, host_config, networking)
            except NotFound:
                # dockerd creates a container whose network does not exist and fails its
                # start (404); a 404 from create makes the docker CLI try to pull the image.
                return

    def _netns_for(self, cid: str, rec: dict[str, Any]) -> str | None:
        assert self.engine is not None
        engine = self.engine

        def resolve(ref: str) -> str:
            return engine._get(ref).id

        with self._as_engine_errors():
            if not self.network.registered(cid):  # its network was missing at create
                self.network.register(cid, rec["Name"], rec["HostConfig"],
                                      rec.get("NetworkingConfig"))
            return self.network.netns_for(cid, rec, resolve)

    def _release_network(self, cid: str) -> None:
        if self.network is not None:
            self.network.detach(cid)

    def _forget_network(self, cid: str) -> None:
        if self.network is not None:
            self.network.forget(cid)

    def _etc_files(self, rec: dict[str, Any], mode: str) -> dict[str, str] | None:
        from dockyard.network import etcfiles

        mode = "bridge" if mode in ("", "default") else mode
        if mode.startswith("container:"):
            return None
        cfg, hc = rec["Config"], rec["HostConfig"]
        cid = rec["ID"]
        ep = self.network.primary_endpoint(cid) if self.network is not None else None
        gateway = ep.gateway if ep is not None and ep.gateway else None
        extra = [etcfiles.parse_add_host(h, gateway) for h in hc.get("ExtraHosts") or []]
        kind = mode if mode in ("host", "none") else "bridge"
        if kind == "bridge":
            extra += self._link_hosts(hc.get("Links") or [])
        _, host_resolv = etcfiles.pick_host_resolv_conf()
        host_hosts = ""
        hostname = cfg.get("Hostname") or cid[:12]
        if mode == "host":
            hostname = socket.gethostname()
            with contextlib.suppress(OSError):
                host_hosts = Path("/etc/hosts").read_text()
        files = etcfiles.container_etc_files(
            kind, hostname=hostname, ip=ep.ipv4 if ep is not None and ep.ipv4 else None,
            domainname=cfg.get("Domainname") or "", extra_hosts=extra,
            dns=hc.get("Dns") or self._default_dns(), dns_search=hc.get("DnsSearch") or (),
            dns_options=hc.get("DnsOptions") or (), host_hosts=host_hosts,
            host_resolv=host_resolv)
        nameserver = self.network.nameserver(cid) if self.network is not None else None
        if nameserver:
            files["resolv.conf"] = embedded_resolv_conf(
                host_resolv, nameserver, hc.get("DnsSearch") or (), hc.get("DnsOptions") or ())
        return files

    def _link_hosts(self, links: list[str]) -> list[tuple[str, str]]:
        """Legacy ``--link NAME[:ALIAS]``: Docker's /etc/hosts line for each linked container,
        ``IP ALIAS ID12 NAME``, from its address on its primary network."""
        out = []
        for link in links:
            target, _, alias = link.partition(":")
            target = target.strip("/")
            alias = alias.rpartition("/")[2] or target  # the daemon's own "/a:/b/alias" form
            assert self.engine is not None
            other = self.engine._get(target)
            ep = self.network.primary_endpoint(other.id) if self.network is not None else None
            if ep is None or not ep.ipv4:
                raise Conflict(f"Cannot link to a non running container: /{target} AS "
                               f"/{alias}")
            names = dict.fromkeys([alias, other.id[:12], other.name.lstrip("/")])
            out.append((" ".join(names), ep.ipv4))
        return out

    def network_settings(self, info: dict[str, Any]) -> dict[str, Any]:
        """inspect's NetworkSettings, from the network manager."""
        if self.network is None:
            return dict(info["NetworkSettings"])
        return self.network.network_settings(info["Id"], info)

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
        from dockyard.api import networks as networks_api

        routes += list(networks_api.routes(self))
        from dockyard.api import volumes as volumes_api

        routes += list(volumes_api.routes(self))
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
            try:
                summary["SizeRw"], summary["SizeRootFs"] = self.engine.sizes(live.id)
            except Exception:  # removed meanwhile
                summary["SizeRw"], summary["SizeRootFs"] = 0, 0
            containers.append(summary)
        return {"Containers": containers, "Volumes": self.engine.volumes.usage()}

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


def embedded_resolv_conf(host_text: str, nameserver: str, search: Any, options: Any) -> str:
    """resolv.conf on a user-defined network: only the embedded DNS server, the host's (or
    --dns-search's) search list and options plus ndots:0, as Docker writes it."""
    from dockyard.network import etcfiles

    host = etcfiles.parse_resolv_conf(host_text)
    domains = list(search) if search else host.search
    if domains == ["."]:
        domains = []
    opts = list(options) if options else list(host.options)
    if not any(o.startswith("ndots:") for o in opts):
        opts.append("ndots:0")
    lines = [f"nameserver {nameserver}"]
    if domains:
        lines.append("search " + " ".join(domains))
    if opts:
        lines.append("options " + " ".join(opts))
    return "\n".join(lines) + "\n"


def create_engine(config: Any, store: Any, events: Any) -> DaemonEngine:
    return DaemonEngine(config, store, events)
