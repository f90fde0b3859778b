"""NetworkManager: the engine's one entry point for container networking (``docker run`` scope).

Theory of operation
-------------------
``attach(container_id, mode)`` gives a container its network before the runtime starts it and
returns an ``Attachment``: the netns path to put in ``linux.namespaces[network].path`` (None for
``host``: the runtime then must not create a network namespace), the address, gateway and MAC, and
``network_settings()`` in the shape of Docker's ``NetworkSettings`` for inspect.

=================  =====================================================================
mode               what attach does
=================  =====================================================================
``bridge``         new netns pinned at ``<exec_root>/netns/<id>``, veth pair to the bridge
                   (``dockyard0``, 172.17.0.1/16 by default), an address from IPAM, default route,
                   masquerade + forward rules in our nftables table; the first one also ensures
                   the bridge and turns on IPv4 forwarding
``none``           new netns with only ``lo`` up
``host``           nothing: the container shares the host's namespace
``container:<id>`` the netns of that (attached) container
=================  =====================================================================

State: IPAM's pools and allocations (``ipam.json``) and the endpoints (``endpoints.json``) are
saved through small stores (store.py) after every change. Order for crash safety: the address is
allocated (and saved) first, then the namespace and veth are made, then the endpoint is saved; so
after a crash at any point ``restore()`` can find every leftover (an allocation without an
endpoint, a netns file or a ``vd*`` veth on our bridge without an endpoint) and remove it, and it
detaches the endpoints of containers that are no longer alive.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import bridge as br
from . import netns
from .ipam import IPAM
from .nat import DEFAULT_TABLE, BridgeRules, Nft
from .store import JSONFileStore, Store

DEFAULT_BRIDGE = "dockyard0"
DEFAULT_NETWORK = "bridge"
MODES = ("bridge", "none", "host", "container")


class NetworkError(Exception):
    """A request the manager cannot honour (unknown mode, unknown container, ...)."""


def parse_mode(mode: str | None) -> tuple[str, str | None]:
    """``--network`` value -> (kind, target): ``default``/empty -> bridge; ``container:ID``."""
    mode = mode or "bridge"
    if mode == "default":
        mode = "bridge"
    if mode.startswith("container:"):
        target = mode.partition(":")[2]
        if not target:
            raise NetworkError("invalid network mode container: (no container given)")
        return "container", target
    if mode in ("bridge", "none", "host"):
        return mode, None
    raise NetworkError(f"network {mode} not found")


@dataclass
class Attachment:
    container_id: str
    mode: str  # bridge | none | host | container
    netns_path: str | None = None  # None: the host's namespace
    owns_netns: bool = False  # we created the netns file and remove it on detach
    target: str | None = None  # container:<target>
    ip: str = ""
    prefixlen: int = 0
    gateway: str = ""
    mac: str = ""
    host_veth: str = ""
    network_id: str = ""
    endpoint_id: str = ""
    sandbox_id: str = ""

    @property
    def network_mode(self) -> str:
        return f"container:{self.target}" if self.mode == "container" else self.mode

    def network_settings(self) -> dict[str, Any]:
        """Docker's ``NetworkSettings`` for ``GET /containers/{id}/json``."""
        networks: dict[str, Any] = {}
        if self.mode in ("bridge", "none", "host"):
            networks[self.mode] = {
                "IPAMConfig": None,
                "Links": None,
                "Aliases": None,
                "MacAddress": self.mac,
                "DriverOpts": None,
                "NetworkID": self.network_id,
                "EndpointID": self.endpoint_id,
                "Gateway": self.gateway,
                "IPAddress": self.ip,
                "IPPrefixLen": self.prefixlen,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "DNSNames": None,
            }
        return {
            "Bridge": "",
            "SandboxID": self.sandbox_id,
            "SandboxKey": self.netns_path or "",
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": {} if self.mode == "bridge" else None,
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "EndpointID": self.endpoint_id if self.mode == "bridge" else "",
            "Gateway": self.gateway,
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": self.ip,
            "IPPrefixLen": self.prefixlen,
            "IPv6Gateway": "",
            "MacAddress": self.mac,
            "Networks": networks,
        }


class NetworkManager:
    def __init__(
        self,
        exec_root: str | Path,
        state: str | Path | None = None,
        *,
        bridge: str = DEFAULT_BRIDGE,
        subnet: str | None = None,
        gateway: str | None = None,
        mtu: int = 1500,
        nat_table: str = DEFAULT_TABLE,
        nft: Nft | None = None,
        ipam_store: Store | None = None,
        endpoint_store: Store | None = None,
        host_networks: Callable[[], Iterable[ipaddress.IPv4Network]] | None = None,
        ip_forward: Path = br.IP_FORWARD,
    ) -> None:
        """``state`` is a directory for ``ipam.json`` and ``endpoints.json`` (or inject stores).

        ``subnet=None`` (``--bip`` unset) picks the first of Docker's default pools, 172.17.0.0/16,
        unless it overlaps a network the host uses (then 172.18.0.0/16, ...), as dockerd does for
        docker0; the choice is saved, so it stays the same across restarts.
        """
        if state is None and (ipam_store is None or endpoint_store is None):
            raise TypeError("NetworkManager needs a state directory or both stores")
        self.exec_root = Path(exec_root)
        self.netns_dir = self.exec_root / "netns"
        self.bridge = bridge
        self.mtu = mtu
        self.nat_table = nat_table
        self._subnet = subnet
        self._gateway = gateway
        self._nft = nft or Nft()
        self._ip_forward = ip_forward
        state_dir = Path(state) if state is not None else None
        self._ipam_store = ipam_store or JSONFileStore(state_dir / "ipam.json")  # type: ignore[operator]
        self._ep_store = endpoint_store or JSONFileStore(state_dir / "endpoints.json")  # type: ignore[operator]
        if host_networks is None:
            host_networks = lambda: br.host_networks(exclude=(bridge,))  # noqa: E731
        self.ipam = IPAM(self._ipam_store, host_networks=host_networks)
        self._lock = threading.RLock()
        data = self._ep_store.load()
        self._network_id: str = data.get("network_id") or secrets.token_hex(32)
        self._endpoints = {cid: Attachment(**ep) for cid, ep in data.get("endpoints", {}).items()}
        self._ready = False

    # -- state ---------------------------------------------------------------------------------

    def _save(self) -> None:
        self._ep_store.save(
            {
                "network_id": self._network_id,
                "endpoints": {cid: asdict(a) for cid, a in sorted(self._endpoints.items())},
            }
        )

    def get(self, container_id: str) -> Attachment | None:
        with self._lock:
            return self._endpoints.get(container_id)

    def endpoints(self) -> dict[str, Attachment]:
        with self._lock:
            return dict(self._endpoints)

    # -- the default bridge --------------------------------------------------------------------

    def _pool(self):
        return self.ipam.add_pool(DEFAULT_NETWORK, self._subnet, self._gateway)

    def ensure_bridge(self) -> None:
        """Bridge up with its gateway address, forwarding on, our nftables table in place."""
        with self._lock:
            if self._ready:
                return
            pool = self._pool()
            address = ipaddress.IPv4Interface(f"{pool.gateway}/{pool.prefixlen}")
            br.ensure_bridge(br.BridgeSpec(self.bridge, address, self.mtu))
            br.enable_ip_forward(self._ip_forward)
            self._nft.sync([BridgeRules(self.bridge, pool.subnet)], self.nat_table)
            self._ready = True

    def teardown_bridge(self) -> None:
        """Remove the bridge and our nftables table (tests, uninstall); endpoints must be gone."""
        with self._lock:
            if any(a.mode == "bridge" for a in self._endpoints.values()):
                raise NetworkError("endpoints are still attached to the bridge")
            br.delete_link(self.bridge)
            self._nft.remove(self.nat_table)
            self._ready = False

    # -- attach / detach -----------------------------------------------------------------------

    def _netns_file(self, container_id: str) -> Path:
        if "/" in container_id or container_id in ("", ".", ".."):
            raise NetworkError(f"invalid container id {container_id!r}")
        return self.netns_dir / container_id

    def attach(
        self,
        container_id: str,
        mode: str | None = "bridge",
        *,
        ip: str | None = None,
        netns_path: str | Path | None = None,
    ) -> Attachment:
        """Connect a container; idempotent for an already attached container.

        ``netns_path``: wire an existing namespace (e.g. ``/proc/<pid>/ns/net`` of an init that
        the runtime started with its own netns) instead of creating and pinning a new one.
        """
        kind, target = parse_mode(mode)
        with self._lock:
            have = self._endpoints.get(container_id)
            if have is not None:
                if have.network_mode != (f"container:{target}" if target else kind):
                    raise NetworkError(f"container {container_id[:12]} is already attached")
                return have
            sandbox = secrets.token_hex(32)
            if kind == "host":
                att = Attachment(
                    container_id, "host", sandbox_id=sandbox, network_id=self._network_id
                )
            elif kind == "container":
                other = self._endpoints.get(target or "")
                if other is None:
                    raise NetworkError(f"No such container: {target}")
                att = Attachment(
                    container_id,
                    "container",
                    netns_path=other.netns_path,
                    target=target,
                    ip=other.ip,
                    prefixlen=other.prefixlen,
                    gateway=other.gateway,
                    mac=other.mac,
                    sandbox_id=other.sandbox_id,
                )
            elif kind == "none":
                path, owns = self._make_netns(container_id, netns_path)
                try:
                    br.loopback_up(path)
                except BaseException:
                    if owns:
                        netns.remove(path)
                    raise
                att = Attachment(
                    container_id,
                    "none",
                    netns_path=str(path),
                    owns_netns=owns,
                    sandbox_id=sandbox,
                    network_id=secrets.token_hex(32),
                )
            else:
                att = self._attach_bridge(container_id, ip, netns_path, sandbox)
            self._endpoints[container_id] = att
            self._save()
            return att

    def netns_for(
        self,
        container_id: str,
        host_config: dict[str, Any],
        resolve: Callable[[str], str] = lambda ref: ref,
    ) -> str | None:
        """Adapter for ``EngineConfig.netns_for``: attach per ``HostConfig.NetworkMode``.

        ``resolve`` maps the NAME of ``container:NAME`` to a container id. Blocking (netlink and
        nft, tens of ms): call it from a worker thread (``asyncio.to_thread``), not the loop.
        """
        kind, target = parse_mode(host_config.get("NetworkMode"))
        mode = f"container:{resolve(target)}" if kind == "container" and target else kind
        return self.attach(container_id, mode).netns_path

    def _make_netns(self, container_id: str, given: str | Path | None) -> tuple[Path, bool]:
        if given is not None:
            return Path(given), False
        path = self._netns_file(container_id)
        if path.exists():  # leftover of a crash between netns creation and the endpoint save
            netns.remove(path)
        return netns.create(path), True

    def _attach_bridge(
        self, container_id: str, ip: str | None, given: str | Path | None, sandbox: str
    ) -> Attachment:
        self.ensure_bridge()
        pool = self._pool()
        address = self.ipam.allocate(DEFAULT_NETWORK, container_id, ip)
        path: Path | None = None
        owns = False
        try:
            path, owns = self._make_netns(container_id, given)
            mac = br.mac_for(address)
            host_veth = br.create_endpoint(
                br.EndpointSpec(
                    container_id=container_id,
                    netns_path=path,
                    bridge=self.bridge,
                    address=ipaddress.IPv4Interface(f"{address}/{pool.prefixlen}"),
                    gateway=pool.gateway,
                    mac=mac,
                    mtu=self.mtu,
                )
            )
        except BaseException:
            if path is not None and owns:
                netns.remove(path)
            self.ipam.release(DEFAULT_NETWORK, container_id)
            raise
        return Attachment(
            container_id,
            "bridge",
            netns_path=str(path),
            owns_netns=owns,
            ip=str(address),
            prefixlen=pool.prefixlen,
            gateway=str(pool.gateway),
            mac=mac,
            host_veth=host_veth,
            network_id=self._network_id,
            endpoint_id=secrets.token_hex(32),
            sandbox_id=sandbox,
        )

    def detach(self, container_id: str) -> bool:
        """Undo attach: veth, pinned netns, address, record. Returns False if not attached."""
        with self._lock:
            att = self._endpoints.get(container_id)
            if att is None:
                return False
            self._release(att)
            del self._endpoints[container_id]
            self._save()
            return True

    def _release(self, att: Attachment) -> None:
        if att.host_veth:
            br.delete_link(att.host_veth)  # its peer goes with it, in whatever netns it is
        if att.owns_netns and att.netns_path:
            netns.remove(att.netns_path)
        if att.mode == "bridge":
            self.ipam.release(DEFAULT_NETWORK, att.container_id)

    # -- daemon restart ------------------------------------------------------------------------

    def restore(self, alive: Callable[[str], bool] | Iterable[str]) -> list[str]:
        """After a daemon start: keep endpoints of live containers, release the rest and garbage.

        ``alive`` is a predicate on container ids or the collection of live ids. Returns the ids
        that were detached. Re-ensures the bridge and our rules when any bridge endpoint remains
        (a reboot or ``nft flush ruleset`` may have removed them).
        """
        if not callable(alive):
            live = set(alive)
            alive = live.__contains__
        with self._lock:
            gone = [cid for cid in self._endpoints if not alive(cid)]
            # container:X sharers first, then their targets
            gone.sort(key=lambda c: self._endpoints[c].mode != "container")
            for cid in gone:
                try:
                    self._release(self._endpoints[cid])
                finally:
                    del self._endpoints[cid]
                    self._save()
            known = set(self._endpoints)
            self.ipam.release_unless(known.__contains__)
            pinned = {a.netns_path for a in self._endpoints.values() if a.owns_netns}
            if self.netns_dir.is_dir():
                for entry in self.netns_dir.iterdir():
                    if str(entry) not in pinned:
                        netns.remove(entry)
            veths = {a.host_veth for a in self._endpoints.values() if a.host_veth}
            for name in br.bridge_ports(self.bridge):
                if name.startswith("vd") and name not in veths:
                    br.delete_link(name)
            if any(a.mode == "bridge" for a in self._endpoints.values()):
                self.ensure_bridge()
            return gone
