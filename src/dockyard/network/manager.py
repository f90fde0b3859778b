"""NetworkManager: networks (bridge, host, none, user-defined bridges) and container endpoints.

Theory of operation
-------------------
Networks are rows of metadata.db (store.py); the predefined ``bridge``, ``host`` and ``none``
are made on first start and keep their ids. Each bridge network has its own Linux bridge
(``dockyard0``-like for the default one, ``br-<id[:12]>`` or ``com.docker.network.bridge.name``
for the others), created with the network and removed with it, marked with the alias
``dockyard:<nat table>`` (bridge.py) so a restart finds its own leftovers only.

A container's networks are recorded at create (:meth:`register`: the primary one from
``HostConfig.NetworkMode``, more from ``NetworkingConfig.EndpointsConfig``) and by
:meth:`connect`. :meth:`netns_for` (start) pins a netns at ``<exec_root>/netns/<id>`` and wires
one veth per network (``eth0``, ``eth1``...; the primary network gives the default route), then
publishes ports (nftables DNAT, host ports held by ports.PortReservations) and registers the
container with the embedded DNS server when it is on a user-defined network. :meth:`detach`
(exit) undoes all of it; :meth:`forget` (remove) drops the records.

Crash safety: an address is committed to ``ip_allocations`` before the veth is made, and the
endpoint row is written after; so :meth:`restore` (daemon start) can tell leftovers from live
state: endpoints of dead containers, allocations without an endpoint, veths and bridges with
our alias that no record names, netns files without a sandbox are all removed.

Every public method is blocking and thread-safe (one lock): the API calls them through
``asyncio.to_thread``. The DNS lookup callback reads an immutable snapshot, never the lock, so
the DNS thread cannot deadlock with a caller holding it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import bridge as br
from . import dnsview, netns
from . import ipam as _ipam
from .errors import Conflict, Forbidden, InvalidParameter, NetworkError, NotFound
from .store import PREDEFINED, Endpoint, Network, NetworkDB, Sandbox, Wanted

log = logging.getLogger("dockyard.network")

DEFAULT_BRIDGE = "dockyard0"
DEFAULT_NETWORK = "bridge"
DEFAULT_TABLE = "dockyard"
DNS_ADDRESS = "127.0.0.11"
OPT_BRIDGE_NAME = "com.docker.network.bridge.name"
OPT_ICC = "com.docker.network.bridge.enable_icc"
OPT_MASQ = "com.docker.network.bridge.enable_ip_masquerade"
OPT_MTU = "com.docker.network.driver.mtu"
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
DRIVERS = {"bridge": "bridge", "host": "host", "null": "null", "none": "null"}

__all__ = ["DEFAULT_BRIDGE", "DEFAULT_TABLE", "NetworkError", "NetworkManager", "parse_mode"]


def parse_mode(mode: str | None) -> tuple[str, str | None]:
    """``--network`` value -> (kind, target): kind is bridge/none/host/container/network."""
    mode = mode or "bridge"
    if mode == "default":
        mode = "bridge"
    if mode.startswith("container:"):
        target = mode.partition(":")[2]
        if not target:
            raise InvalidParameter("invalid network mode container: (no container given)")
        return "container", target
    if mode in PREDEFINED:
        return mode, None
    return "network", mode


def _rfc3339(ts: float) -> str:
    frac = f"{ts:.9f}".split(".")[1]
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{frac}Z"


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class NetworkManager:
    def __init__(
        self,
        meta: Any,
        exec_root: str | Path,
        *,
        bridge: str = DEFAULT_BRIDGE,
        bip: str | None = None,
        nat_table: str = DEFAULT_TABLE,
        default_pools: Sequence[_ipam.AddressPool] | None = None,
        icc: bool = True,
        ip_forward: bool | Path = True,
        mtu: int = 1500,
        nft: Any = None,
        emit: Callable[..., None] | None = None,
        default_dns: Sequence[str] = (),
        dns: Any = None,
        host_networks: Callable[[], Iterable[Any]] | None = None,
        netlink: Any = None,
    ) -> None:
        """``meta``: the MetadataStore. ``bip``: the default bridge's subnet or gateway/len
        (dockerd ``--bip``). ``ip_forward``: False leaves the host setting alone, a Path is a
        private file to write instead of /proc (tests). ``nft``, ``dns``, ``netlink`` (the
        bridge module) are injectable for tests without root."""
        self.db = NetworkDB(meta)
        self.ipam = _ipam.IPAM(meta)
        self.exec_root = Path(exec_root)
        self.netns_dir = self.exec_root / "netns"
        self.default_bridge = bridge
        self.bip = bip
        self.table = nat_table
        self.alias = f"dockyard:{nat_table}"
        self.pools = list(default_pools) if default_pools else _ipam.docker_default_pools()
        self.icc = icc
        self.ip_forward = ip_forward
        self.mtu = mtu
        self.br = netlink or br
        self._nft = nft
        self._emit_cb = emit
        self.default_dns = list(default_dns)  # dockerd --dns: before the host's resolvers
        self._dns = dns
        self._dns_failed = False
        self._reservations: Any = None
        # Our own bridges do not count as the host's networks: a fresh data root must pick
        # the default bridge's subnet again, not a new one added beside the old address.
        self._host_networks = host_networks or (
            lambda: self.br.host_networks(exclude=[bridge, *self._bridge_names()]))
        self._lock = threading.RLock()
        self._dns_view = dnsview.DNSView()
        with self._lock:
            self._networks = {n.id: n for n in self.db.networks()}
            self._wanted = self.db.wanted()
            self._sandboxes = self.db.sandboxes()
            self._endpoints = self.db.endpoints()
            self._names: dict[str, str] = {}
            for cid, nets in self._wanted.items():
                for w in nets.values():
                    if w.name:
                        self._names[cid] = w.name
            self._hostconfigs: dict[str, dict[str, Any]] = {}
            self._predefined()
            self._refresh_dns_view()

    # ------------------------------------------------------------------ helpers

    def _bridge_names(self) -> list[str]:
        return [n.bridge for n in self._networks.values() if n.bridge]

    def _emit(self, action: str, net: Network, **attrs: str) -> None:
        if self._emit_cb is None:
            return
        try:
            self._emit_cb(type="network", action=action, actor_id=net.id,
                          attributes={"name": net.name, "type": net.driver, **attrs})
        except Exception:  # a broken listener must not break networking
            log.exception("network event")

    def _by_name(self, name: str) -> Network | None:
        return next((n for n in self._networks.values() if n.name == name), None)

    def _find(self, ref: str) -> Network:
        """Full id, then name, then unique id prefix (Docker's order)."""
        if not ref:
            raise NotFound("network  not found")
        if ref in self._networks:
            return self._networks[ref]
        net = self._by_name(ref)
        if net is not None:
            return net
        found = [n for n in self._networks.values() if n.id.startswith(ref)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise NotFound(f"network {ref} is ambiguous ({len(found)} matches found based "
                           "on ID prefix)")
        raise NotFound(f"network {ref} not found")

    def _pool_configs(self, net: Network) -> list[_ipam.PoolConfig]:
        return [_ipam.PoolConfig.from_docker(p) for p in net.pools]

    def _subnets(self, exclude: str = "") -> list[Any]:
        return [ipaddress.ip_network(p["Subnet"]) for n in self._networks.values()
                if n.id != exclude for p in n.pools]

    # ------------------------------------------------------------------ predefined networks

    def _predefined(self) -> None:
        now = time.time()
        for name, driver in (("host", "host"), ("none", "null")):
            if self._by_name(name) is None:
                net = Network(id=secrets.token_hex(32), name=name, driver=driver, created=now,
                              created_text=_rfc3339(now))
                self.db.put_network(net)
                self._networks[net.id] = net
        have = self._by_name(DEFAULT_NETWORK)
        pools = self._default_bridge_pools(have)
        options = {
            "com.docker.network.bridge.default_bridge": "true",
            OPT_ICC: "true" if self.icc else "false",
            OPT_MASQ: "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            OPT_BRIDGE_NAME: self.default_bridge,
            OPT_MTU: str(self.mtu),
        }
        if have is None:
            have = Network(id=secrets.token_hex(32), name=DEFAULT_NETWORK, driver="bridge",
                           created=now, created_text=_rfc3339(now))
        if have.pools != pools or have.options != options or have.bridge != self.default_bridge:
            have.pools, have.options, have.bridge = pools, options, self.default_bridge
            self.db.put_network(have)
        self._networks[have.id] = have

    def _default_bridge_pools(self, have: Network | None) -> list[dict[str, Any]]:
        if self.bip:
            iface = ipaddress.ip_interface(self.bip)
            subnet = iface.network
            gateway = iface.ip if iface.ip != subnet.network_address else subnet.network_address + 1
            return [{"Subnet": str(subnet), "Gateway": str(gateway)}]
        if have is not None and have.pools:
            return have.pools
        taken = self._subnets(exclude=have.id if have else "")
        pools = _ipam.plan_pools(None, enable_ipv6=False, taken=taken,
                                 candidates=_ipam.default_pools(self.pools),
                                 host_networks=self._host_networks)
        return [p.to_docker() for p in pools]

    # ------------------------------------------------------------------ bridges and rules

    def _ensure_bridge(self, net: Network) -> None:
        pools = self._pool_configs(net)
        v4 = next(p for p in pools if p.version == 4)
        v6 = next((p for p in pools if p.version == 6), None) if net.enable_ipv6 else None
        mtu = int(net.options.get(OPT_MTU) or self.mtu)
        self.br.ensure_bridge(self.br.BridgeSpec(
            net.bridge, ipaddress.IPv4Interface(f"{v4.gateway}/{v4.subnet.prefixlen}"), mtu,
            alias=self.alias,
            address6=ipaddress.IPv6Interface(f"{v6.gateway}/{v6.subnet.prefixlen}")
            if v6 is not None else None))
        if self.ip_forward is not False:
            path = self.ip_forward if isinstance(self.ip_forward, Path) else br.IP_FORWARD
            with contextlib.suppress(OSError):
                self.br.enable_ip_forward(path)

    def _nft_client(self) -> Any:
        if self._nft is None:
            from .nat import Nft

            self._nft = Nft()
        return self._nft

    def _bridge_rules(self) -> list[Any]:
        from . import nat

        out = []
        names = {f.name for f in nat.BridgeRules.__dataclass_fields__.values()}
        for net in sorted(self._networks.values(), key=lambda n: n.created):
            if net.driver != "bridge" or not net.bridge:
                continue
            pools = self._pool_configs(net)
            kw: dict[str, Any] = {
                "bridge": net.bridge,
                "subnet": next(p.subnet for p in pools if p.version == 4),
                "masquerade": _truthy(net.options.get(OPT_MASQ, "true")) and not net.internal,
            }
            extra = {
                "subnet6": next((p.subnet for p in pools if p.version == 6), None)
                if net.enable_ipv6 else None,
                "internal": net.internal,
                "icc": _truthy(net.options.get(OPT_ICC, "true")),
            }
            kw.update({k: v for k, v in extra.items() if k in names})
            out.append(nat.BridgeRules(**kw))
        return out

    def _port_mappings(self) -> list[Any]:
        if not any(sb.ports for sb in self._sandboxes.values()):
            return []
        from . import ports

        return [ports.PortMapping(**pm) for sb in self._sandboxes.values() for pm in sb.ports]

    def _apply_rules(self) -> None:
        """Our nftables table from the desired state (every bridge, every published port)."""
        self._nft_client().apply(self.table, self._bridge_rules(), self._port_mappings())

    # ------------------------------------------------------------------ networks API

    def create_network(
        self,
        name: str,
        *,
        driver: str = "bridge",
        internal: bool = False,
        attachable: bool = False,
        enable_ipv6: bool = False,
        ipam: dict[str, Any] | None = None,
        options: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        check_duplicate: bool = True,
    ) -> dict[str, str]:
        if not name:
            raise InvalidParameter("network name must not be empty")
        if not NAME_RE.match(name):
            raise InvalidParameter(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                                   "are allowed")
        driver = driver or "bridge"
        if driver not in DRIVERS:
            raise NotFound(f'plugin "{driver}" not found')
        if DRIVERS[driver] != "bridge":
            raise Forbidden(f'only one instance of "{DRIVERS[driver]}" network is allowed')
        options = {str(k): str(v) for k, v in (options or {}).items()}
        labels = {str(k): str(v) for k, v in (labels or {}).items()}
        with self._lock:
            if name in PREDEFINED:
                raise Forbidden(f"{name} is a pre-defined network and cannot be created")
            if self._by_name(name) is not None:
                raise Conflict(f"network with name {name} already exists")
            nid = secrets.token_hex(32)
            bridge = options.get(OPT_BRIDGE_NAME) or f"br-{nid[:12]}"
            if not 0 < len(bridge) <= br.IFNAMSIZ:
                raise InvalidParameter(f"invalid bridge name {bridge!r}")
            if bridge in self._bridge_names():
                raise Conflict(f"bridge name {bridge} is already in use by another network")
            if OPT_MTU in options:
                try:
                    mtu = int(options[OPT_MTU])
                except ValueError:
                    raise InvalidParameter(f"invalid MTU {options[OPT_MTU]!r}") from None
                if not 68 <= mtu <= 65535:
                    raise InvalidParameter(f"invalid MTU {mtu}: must be 68 to 65535")
            request = dict(ipam or {})
            pools = _ipam.plan_pools(
                request, enable_ipv6=bool(enable_ipv6), taken=self._subnets(),
                candidates=_ipam.default_pools(self.pools),
                host_networks=self._host_networks, seed=nid)
            auto = not any((e or {}).get("Subnet") and ipaddress.ip_network(
                e["Subnet"], strict=False).version == 4 for e in request.get("Config") or [])
            now = time.time()
            net = Network(
                id=nid, name=name, driver="bridge", created=now, created_text=_rfc3339(now),
                options=options, labels=labels, pools=[p.to_docker() for p in pools],
                ipam_options=dict(request.get("Options") or {}), auto_subnet=auto,
                internal=bool(internal), attachable=bool(attachable),
                enable_ipv6=bool(enable_ipv6), bridge=bridge)
            if self.br.link_exists(bridge) and (bridge, "bridge") not in \
                    self.br.links_with_alias(self.alias):
                raise Conflict(f"bridge name {bridge} is already in use on the host")
            self.db.put_network(net)
            self._networks[nid] = net
            try:
                self._ensure_bridge(net)
                self._apply_rules()
            except BaseException as err:
                self._networks.pop(nid, None)
                self.db.delete_network(nid)
                with contextlib.suppress(Exception):
                    self.br.delete_link(bridge)
                with contextlib.suppress(Exception):
                    self._apply_rules()
                if isinstance(err, NetworkError):
                    raise
                raise NetworkError(f"failed to create network {name}: {err}") from err
            self._emit("create", net)
            return {"Id": nid, "Warning": ""}

    def remove_network(self, ref: str) -> None:
        with self._lock:
            net = self._find(ref)
            if net.predefined:
                raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
            active = [cid for cid, eps in self._endpoints.items() if net.id in eps]
            if active:  # moby answers 403 here, not 409
                raise Forbidden(f"error while removing network: network {net.name} id "
                               f"{net.id} has active endpoints")
            if net.bridge:
                self.br.delete_link(net.bridge)
            self._networks.pop(net.id, None)
            self.db.delete_network(net.id)
            try:
                self._apply_rules()
            except Exception:
                log.exception("nft after removing network %s", net.name)
            self._refresh_dns_view()
            self._emit("destroy", net)

    def prune_networks(self, filters: dict[str, list[str]] | None = None) -> list[str]:
        filters = dict(filters or {})
        gone = []
        with self._lock:
            for net in list(self._networks.values()):
                if net.predefined or self._in_use(net.id):
                    continue
                if not self._match_labels(net, filters.get("label") or [], positive=True):
                    continue
                if not self._match_labels(net, filters.get("label!") or [], positive=False):
                    continue
                if filters.get("until") and not any(
                        net.created < _until(u) for u in filters["until"]):
                    continue
                self.remove_network(net.id)
                gone.append(net.name)
        return gone

    def _in_use(self, nid: str) -> bool:
        return any(nid in w for w in self._wanted.values()) or \
            any(nid in e for e in self._endpoints.values())

    @staticmethod
    def _match_labels(net: Network, wanted: list[str], *, positive: bool) -> bool:
        for spec in wanted:
            key, eq, value = spec.partition("=")
            hit = key in net.labels and (not eq or net.labels[key] == value)
            if hit != positive:
                return False
        return True

    def list_networks(self, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        filters = dict(filters or {})
        known = {"dangling", "driver", "id", "label", "name", "scope", "type"}
        bad = sorted(set(filters) - known)
        if bad:
            raise InvalidParameter(f"invalid filter '{bad[0]}'")
        out = []
        with self._lock:
            for net in sorted(self._networks.values(), key=lambda n: n.created):
                if "driver" in filters and net.driver not in filters["driver"]:
                    continue
                if "id" in filters and not any(net.id.startswith(i) for i in filters["id"]):
                    continue
                if "name" in filters and not any(x in net.name for x in filters["name"]):
                    continue
                if "scope" in filters and "local" not in filters["scope"]:
                    continue
                if "type" in filters:
                    kinds = set(filters["type"])
                    if kinds - {"custom", "builtin"}:
                        raise InvalidParameter(f"invalid filter: 'type'='{sorted(kinds)[0]}'")
                    if ("builtin" if net.predefined else "custom") not in kinds:
                        continue
                if not self._match_labels(net, filters.get("label") or [], positive=True):
                    continue
                if "dangling" in filters:
                    want = {_dangling(v) for v in filters["dangling"]}
                    dangling = not net.predefined and not self._in_use(net.id)
                    if dangling not in want:
                        continue
                out.append(self._describe(net, containers=False))
        return out

    def inspect_network(self, ref: str, *, verbose: bool = False) -> dict[str, Any]:
        with self._lock:
            return self._describe(self._find(ref), containers=True)

    def _describe(self, net: Network, *, containers: bool) -> dict[str, Any]:
        members: dict[str, Any] = {}
        if containers:
            for cid, eps in self._endpoints.items():
                ep = eps.get(net.id)
                if ep is None:
                    continue
                members[cid] = {
                    "Name": self._names.get(cid, cid[:12]),
                    "EndpointID": ep.endpoint_id,
                    "MacAddress": ep.mac,
                    "IPv4Address": f"{ep.ipv4}/{ep.prefixlen}" if ep.ipv4 else "",
                    "IPv6Address": f"{ep.ipv6}/{ep.prefixlen6}" if ep.ipv6 else "",
                }
        return {
            "Name": net.name,
            "Id": net.id,
            "Created": net.created_text or _rfc3339(net.created),
            "Scope": "local",
            "Driver": net.driver,
            "EnableIPv4": net.driver == "bridge",
            "EnableIPv6": net.enable_ipv6,
            "IPAM": {"Driver": "default", "Options": net.ipam_options or None,
                     "Config": [dict(p) for p in net.pools]},
            "Internal": net.internal,
            "Attachable": net.attachable,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": members,
            "Options": dict(net.options),
            "Labels": dict(net.labels),
        }

    # ------------------------------------------------------------------ container lifecycle

    def _endpoint_settings(self, net: Network, settings: dict[str, Any] | None,
                           position: int, name: str) -> Wanted:
        """Validate one EndpointSettings for ``net`` (Docker's messages) -> Wanted."""
        settings = settings or {}
        ipam_cfg = settings.get("IPAMConfig") or {}
        aliases = [a for a in settings.get("Aliases") or [] if a]
        v4 = (ipam_cfg.get("IPv4Address") or "").strip()
        v6 = (ipam_cfg.get("IPv6Address") or "").strip()
        if not net.user_defined:
            if aliases:
                raise InvalidParameter("network-scoped alias is supported only for containers "
                                       "in user defined networks")
            if v4 or v6:
                raise InvalidParameter("user specified IP address is supported on user "
                                       "defined networks only")
        pools = self._pool_configs(net)
        for text, version in ((v4, 4), (v6, 6)):
            if not text:
                continue
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                raise InvalidParameter(f"invalid IPv{version} address: {text}") from None
            if ip.version != version:
                raise InvalidParameter(f"invalid IPv{version} address: {text}")
            if version == 4 and net.auto_subnet:
                raise InvalidParameter("user specified IP address is supported only when "
                                       "connecting to networks with user configured subnets")
            if not any(ip in p.subnet for p in pools if p.version == version):
                raise InvalidParameter(f"no configured subnet or ip-range contain the IP "
                                       f"address {ip}")
        return Wanted(network_id=net.id, position=position, name=name, aliases=aliases,
                      ipv4=v4, ipv6=v6, links=list(settings.get("Links") or []),
                      driver_opts=dict(settings.get("DriverOpts") or {}),
                      mac=settings.get("MacAddress") or "")

    def register(self, cid: str, name: str, host_config: dict[str, Any] | None,
                 networking_config: dict[str, Any] | None) -> None:
        """At create: check the networks exist and the endpoint settings, record them."""
        hc = host_config or {}
        name = (name or "").lstrip("/")
        kind, target = parse_mode(hc.get("NetworkMode"))
        if hc.get("PortBindings"):
            from . import ports

            ports.validate_port_bindings(hc["PortBindings"])
        endpoints = dict((networking_config or {}).get("EndpointsConfig") or {})
        with self._lock:
            items: list[Wanted] = []
            if kind == "container":
                if endpoints:
                    raise InvalidParameter("conflicting options: container type network can't "
                                           "be used with links or network-scoped settings")
            else:
                primary = self._find(target or kind) if kind == "network" else \
                    self._by_name(kind)
                assert primary is not None
                settings = endpoints.pop(hc.get("NetworkMode") or "default", None)
                for key in (primary.name, primary.id, "default" if kind == "bridge" else ""):
                    if settings is None and key in endpoints:
                        settings = endpoints.pop(key)
                items.append(self._endpoint_settings(primary, settings, 0, name))
                if endpoints and primary.driver != "bridge":
                    raise InvalidParameter("container cannot be connected to multiple networks "
                                           f"with one of the networks in {primary.name} mode")
                for pos, (ref, settings) in enumerate(sorted(endpoints.items()), start=1):
                    net = self._find(ref)
                    if net.driver != "bridge":
                        raise InvalidParameter("container cannot be connected to multiple "
                                               f"networks with one of the networks in "
                                               f"{net.name} mode")
                    if any(w.network_id == net.id for w in items):
                        continue
                    items.append(self._endpoint_settings(net, settings, pos, name))
            self._names[cid] = name
            self._hostconfigs[cid] = hc
            self.db.delete_wanted(cid)
            self.db.put_wanted(cid, items)
            self._wanted[cid] = {w.network_id: w for w in items}

    def registered(self, cid: str) -> bool:
        with self._lock:
            return cid in self._wanted

    def forget(self, cid: str) -> None:
        """At remove: undo netns_for if needed and drop the container's records."""
        with self._lock:
            self.detach(cid)
            self.db.delete_wanted(cid)
            self._wanted.pop(cid, None)
            self._names.pop(cid, None)
            self._hostconfigs.pop(cid, None)
            self._refresh_dns_view()

    def rename(self, cid: str, name: str) -> None:
        with self._lock:
            name = name.lstrip("/")
            self._names[cid] = name
            items = list(self._wanted.get(cid, {}).values())
            for w in items:
                w.name = name
            self.db.put_wanted(cid, items)
            self._refresh_dns_view()

    def _ordered_wanted(self, cid: str) -> list[Wanted]:
        return sorted(self._wanted.get(cid, {}).values(), key=lambda w: w.position)

    def netns_for(self, cid: str, rec: dict[str, Any],
                  resolve: Callable[[str], str] = lambda ref: ref) -> str | None:
        """At start: the netns path for the runtime (None: the host's), fully wired."""
        hc = rec.get("HostConfig") or {}
        kind, target = parse_mode(hc.get("NetworkMode"))
        with self._lock:
            self._hostconfigs[cid] = hc
            name = (rec.get("Name") or "").lstrip("/")
            if name:
                self._names[cid] = name
            if kind == "host":
                return None
            if kind == "container":
                other = resolve(target or "")
                sb = self._sandboxes.get(other)
                if sb is None or not sb.netns_path:
                    raise Conflict(f"cannot join network of a non running container: {target}")
                return sb.netns_path
            have = self._sandboxes.get(cid)
            if have is not None:
                return have.netns_path
            if cid not in self._wanted:
                self.register(cid, name, hc, rec.get("NetworkingConfig"))
            wanted = self._ordered_wanted(cid)
            for w in wanted:
                if w.network_id not in self._networks:
                    raise NotFound(f"network {w.network_id} not found")
            sb = Sandbox(container_id=cid, sandbox_id=secrets.token_hex(32), mode=kind,
                         dns=list(hc.get("Dns") or []))
            path = self._netns_file(cid)
            if path.exists():  # a leftover of a crash before the sandbox was saved
                netns.remove(path)
            netns.create(path)
            sb.netns_path, sb.owns_netns = str(path), True
            self._sandboxes[cid] = sb
            self._endpoints[cid] = {}
            try:
                self.br.loopback_up(path)
                self.db.put_sandbox(sb)
                default_done = False
                for w in wanted:
                    net = self._networks[w.network_id]
                    if net.driver != "bridge":
                        continue
                    ep = self._join(cid, sb, net, w, default_route=not default_done)
                    default_done = default_done or ep.default_route
                self._publish(cid, sb, rec)
                self._apply_rules()
                self._dns_add(cid, sb)
            except BaseException:
                self._teardown(cid, emit=False)
                raise
            for w in wanted:
                net = self._networks[w.network_id]
                self._emit("connect", net, container=cid)
            return sb.netns_path

    def _netns_file(self, cid: str) -> Path:
        if not cid or "/" in cid or cid in (".", ".."):
            raise InvalidParameter(f"invalid container id {cid!r}")
        return self.netns_dir / cid

    def _next_ifname(self, cid: str) -> str:
        used = {ep.ifname for ep in self._endpoints.get(cid, {}).values()}
        n = 0
        while f"eth{n}" in used:
            n += 1
        return f"eth{n}"

    def _join(self, cid: str, sb: Sandbox, net: Network, w: Wanted, *,
              default_route: bool) -> Endpoint:
        """One veth from ``net``'s bridge into the sandbox; address from IPAM (saved first)."""
        pools = self._pool_configs(net)
        got4 = self.ipam.allocate(net.id, pools, cid, version=4, want=w.ipv4 or None)
        got6 = None
        try:
            if net.enable_ipv6:
                got6 = self.ipam.allocate(net.id, pools, cid, version=6, want=w.ipv6 or None)
            assert got4 is not None
            ip4, pool4 = got4
            route = default_route and not net.internal
            ep = Endpoint(network_id=net.id, endpoint_id=secrets.token_hex(32),
                          ifname=self._next_ifname(cid), mac=w.mac or br.mac_for(ip4),
                          ipv4=str(ip4), prefixlen=pool4.subnet.prefixlen,
                          gateway=str(pool4.gateway), default_route=route)
            if got6 is not None:
                ep.ipv6, ep.prefixlen6 = str(got6[0]), got6[1].subnet.prefixlen
                ep.gateway6 = str(got6[1].gateway)
            self._ensure_bridge(net)
            mtu = int(net.options.get(OPT_MTU) or self.mtu)
            ep.host_veth = self.br.create_endpoint(self.br.EndpointSpec(
                container_id=cid, netns_path=Path(sb.netns_path), bridge=net.bridge,
                address=ipaddress.IPv4Interface(f"{ep.ipv4}/{ep.prefixlen}"),
                gateway=pool4.gateway if route else None, mac=ep.mac, mtu=mtu,
                ifname=ep.ifname, network_id=net.id, alias=self.alias,
                address6=ipaddress.IPv6Interface(f"{ep.ipv6}/{ep.prefixlen6}")
                if ep.ipv6 else None,
                gateway6=ipaddress.IPv6Address(ep.gateway6) if ep.ipv6 and route else None))
        except BaseException:
            self.ipam.release(net.id, cid)
            raise
        self._endpoints.setdefault(cid, {})[net.id] = ep
        self.db.put_endpoint(cid, ep)
        return ep

    def _leave(self, cid: str, nid: str) -> None:
        ep = self._endpoints.get(cid, {}).pop(nid, None)
        host = ep.host_veth if ep is not None else br.veth_names(cid, nid)[0]
        with contextlib.suppress(Exception):
            self.br.delete_link(host)  # the peer goes with it, in whatever netns it is
        self.ipam.release(nid, cid)
        self.db.delete_endpoint(cid, nid)

    def detach(self, cid: str) -> bool:
        """At stop/exit: undo netns_for. False when the container had no sandbox."""
        with self._lock:
            if cid not in self._sandboxes:
                return False
            nets = [self._networks[n] for n in self._endpoints.get(cid, {})
                    if n in self._networks]
            self._teardown(cid, emit=False)
            for net in nets:
                self._emit("disconnect", net, container=cid)
            return True

    def _teardown(self, cid: str, *, emit: bool) -> None:
        sb = self._sandboxes.get(cid)
        if sb is not None and sb.dns_on:
            self._dns_remove(cid)
        for nid in list(self._endpoints.get(cid, {})):
            self._leave(cid, nid)
        self._endpoints.pop(cid, None)
        if sb is not None:
            self._unpublish(cid)
            if sb.owns_netns and sb.netns_path:
                with contextlib.suppress(OSError):
                    netns.remove(sb.netns_path)
        self._sandboxes.pop(cid, None)
        self.db.delete_sandbox(cid)
        with contextlib.suppress(Exception):
            self._apply_rules()
        self._refresh_dns_view()

    # ------------------------------------------------------------------ connect / disconnect

    def connect(self, ref: str, cid: str, *, endpoint_config: dict[str, Any] | None = None,
                name: str | None = None) -> None:
        with self._lock:
            net = self._find(ref)
            if cid not in self._wanted and cid not in self._names and name is None:
                raise NotFound(f"No such container: {cid}")
            if name:
                self._names[cid] = name.lstrip("/")
            cname = self._names.get(cid, cid[:12])
            hc = self._hostconfigs.get(cid) or {}
            kind, _ = parse_mode(hc.get("NetworkMode"))
            current = self._wanted.get(cid, {})
            mode_nets = [self._networks.get(n) for n in current]
            if kind in ("host", "container") or any(
                    n is not None and n.driver != "bridge" for n in mode_nets):
                if kind == "host" or any(n is not None and n.driver == "host"
                                         for n in mode_nets):
                    raise InvalidParameter("container cannot be disconnected from host network "
                                           "or connected to host network")
                raise InvalidParameter("container sharing network namespace with another "
                                       "container or host cannot be connected to any other "
                                       "network")
            if net.driver != "bridge":
                raise InvalidParameter("container cannot be disconnected from host network or "
                                       "connected to host network")
            if net.id in current:
                raise Forbidden(f"endpoint with name {cname} already exists in network "
                                f"{net.name}")
            position = max((w.position for w in current.values()), default=-1) + 1
            w = self._endpoint_settings(net, endpoint_config, position, cname)
            sb = self._sandboxes.get(cid)
            if sb is not None:
                first = not self._endpoints.get(cid)
                self._join(cid, sb, net, w, default_route=first)
                try:
                    self._apply_rules()
                    self._dns_add(cid, sb)
                except BaseException:
                    self._leave(cid, net.id)
                    raise
            self.db.put_wanted(cid, [w])
            self._wanted.setdefault(cid, {})[net.id] = w
            self._refresh_dns_view()
            self._emit("connect", net, container=cid)

    def disconnect(self, ref: str, cid: str, *, force: bool = False) -> None:
        with self._lock:
            net = self._find(ref)
            cname = self._names.get(cid, cid[:12])
            if net.driver == "host":
                raise InvalidParameter("container cannot be disconnected from host network or "
                                       "connected to host network")
            if net.id not in self._wanted.get(cid, {}) and \
                    net.id not in self._endpoints.get(cid, {}):
                raise Forbidden(f"container {cname} is not connected to network {net.name}")
            if net.id in self._endpoints.get(cid, {}):
                self._leave(cid, net.id)
                with contextlib.suppress(Exception):
                    self._apply_rules()
            self.db.delete_wanted(cid, net.id)
            self._wanted.get(cid, {}).pop(net.id, None)
            self._refresh_dns_view()
            self._emit("disconnect", net, container=cid)

    # ------------------------------------------------------------------ published ports

    def _publish(self, cid: str, sb: Sandbox, rec: dict[str, Any]) -> None:
        """Reserve the container's published ports, DNAT to its primary endpoint."""
        cfg, hc = rec.get("Config") or {}, rec.get("HostConfig") or {}
        exposed = dict(cfg.get("ExposedPorts") or {})
        bindings = hc.get("PortBindings") or {}
        publish_all = bool(hc.get("PublishAllPorts"))
        if not exposed and not bindings:
            sb.port_settings = {}
            self.db.put_sandbox(sb)
            return
        from . import ports

        keys = list(exposed) + [k for k in bindings if k not in exposed]
        requests = ports.plan_requests(bindings, exposed, publish_all)
        primary = self.primary_endpoint(cid)
        mappings: list[Any] = []
        if requests and primary is not None:
            net = self._networks[primary.network_id]
            mappings = self._held().reserve(
                cid, requests, container_ip=primary.ipv4, bridge=net.bridge,
                container_ip6=primary.ipv6 or None, endpoint=self._names.get(cid, cid[:12]),
                endpoint_id=primary.endpoint_id)
        sb.ports = [asdict(m) for m in mappings]
        sb.port_settings = ports.render_ports(keys, mappings)
        self.db.put_sandbox(sb)

    def _held(self) -> Any:
        if self._reservations is None:
            from . import ports

            self._reservations = ports.PortReservations()
        return self._reservations

    def _unpublish(self, cid: str) -> None:
        if self._reservations is not None:
            with contextlib.suppress(Exception):
                self._reservations.release(cid)

    # ------------------------------------------------------------------ embedded DNS

    def _on_user_network(self, cid: str) -> bool:
        return any(self._networks[n].user_defined for n in self._endpoints.get(cid, {})
                   if n in self._networks)

    def _dns_server(self) -> Any:
        if self._dns is None and not self._dns_failed:
            try:
                from .dns import EmbeddedDNS
            except ImportError:
                self._dns_failed = True
                return None
            self._dns = EmbeddedDNS(self._dns_lookup, self._dns_forwarders)
        return self._dns

    def _dns_add(self, cid: str, sb: Sandbox) -> None:
        self._refresh_dns_view()
        if sb.dns_on or not self._on_user_network(cid):
            return
        server = self._dns_server()
        if server is None:
            return
        server.add(cid, sb.netns_path)
        sb.dns_on = True
        self.db.put_sandbox(sb)

    def _dns_remove(self, cid: str) -> None:
        if self._dns is not None:
            with contextlib.suppress(Exception):
                self._dns.remove(cid)
        sb = self._sandboxes.get(cid)
        if sb is not None:
            sb.dns_on = False

    def _refresh_dns_view(self) -> None:
        """A new immutable snapshot for the DNS thread (dnsview.py)."""
        servers = {cid: list((self._hostconfigs.get(cid) or {}).get("Dns") or
                             (self._sandboxes[cid].dns if cid in self._sandboxes else []))
                   for cid in self._endpoints}
        self._dns_view = dnsview.build(self._endpoints, self._networks, self._wanted,
                                       self._names, servers)

    def _dns_lookup(self, cid: str, qname: str, qtype: str) -> list[str] | None:
        return self._dns_view.lookup(cid, qname, qtype)

    def _dns_forwarders(self, cid: str) -> list[str]:
        """The container's --dns, else the daemon's --dns, else the host's resolvers."""
        given = self._dns_view.servers(cid) or self.default_dns
        if given:
            return list(given)
        from . import etcfiles

        _, text = etcfiles.pick_host_resolv_conf()
        return etcfiles.parse_resolv_conf(text).nameservers

    def nameserver(self, cid: str) -> str | None:
        """``127.0.0.11`` for a container on a user-defined network (its resolv.conf)."""
        with self._lock:
            nets = list(self._endpoints.get(cid, {})) or list(self._wanted.get(cid, {}))
            if any(n in self._networks and self._networks[n].user_defined for n in nets):
                return DNS_ADDRESS
            return None

    # ------------------------------------------------------------------ inspect

    def get(self, cid: str) -> ContainerView | None:
        """What api/containers.py uses for listings: ``network_settings()`` and the address."""
        with self._lock:
            if cid not in self._sandboxes and cid not in self._wanted:
                return None
            return ContainerView(self, cid)

    def primary_endpoint(self, cid: str) -> Endpoint | None:
        with self._lock:
            eps = self._endpoints.get(cid, {})
            for w in self._ordered_wanted(cid):
                if w.network_id in eps:
                    return eps[w.network_id]
            return next(iter(eps.values()), None)

    def network_settings(self, cid: str, rec: dict[str, Any] | None = None) -> dict[str, Any]:
        """inspect's ``NetworkSettings`` in Docker's shape."""
        hc = (rec or {}).get("HostConfig") or self._hostconfigs.get(cid) or {}
        with self._lock:
            sb = self._sandboxes.get(cid)
            eps = self._endpoints.get(cid, {})
            networks: dict[str, Any] = {}
            kind, _ = parse_mode(hc.get("NetworkMode"))
            wanted = self._ordered_wanted(cid)
            if not wanted and kind in PREDEFINED:
                net = self._by_name(kind)
                wanted = [Wanted(network_id=net.id, position=0)] if net is not None else []
            name = self._names.get(cid, "")
            for w in wanted:
                net = self._networks.get(w.network_id)
                if net is None:
                    continue
                ep = eps.get(net.id)
                ipam_cfg = None
                if w.ipv4 or w.ipv6:
                    ipam_cfg = {k: v for k, v in (("IPv4Address", w.ipv4),
                                                  ("IPv6Address", w.ipv6)) if v}
                dns_names = None
                if net.user_defined:
                    dns_names = [n for n in [name, *w.aliases, cid[:12]] if n]
                networks[net.name] = {
                    "IPAMConfig": ipam_cfg,
                    "Links": w.links or None,
                    "Aliases": list(w.aliases) or None,
                    "MacAddress": ep.mac if ep else "",
                    "DriverOpts": w.driver_opts or None,
                    "GwPriority": 0,
                    "NetworkID": net.id,
                    "EndpointID": ep.endpoint_id if ep else "",
                    "Gateway": ep.gateway if ep and ep.default_route else "",
                    "IPAddress": ep.ipv4 if ep else "",
                    "IPPrefixLen": ep.prefixlen if ep else 0,
                    "IPv6Gateway": ep.gateway6 if ep and ep.default_route else "",
                    "GlobalIPv6Address": ep.ipv6 if ep else "",
                    "GlobalIPv6PrefixLen": ep.prefixlen6 if ep else 0,
                    "DNSNames": dns_names,
                }
                if ep and not ep.default_route:
                    networks[net.name]["Gateway"] = ep.gateway
                    networks[net.name]["IPv6Gateway"] = ep.gateway6
            default = self._by_name(DEFAULT_NETWORK)
            dep = eps.get(default.id) if default is not None else None
            return {
                "Bridge": "",
                "SandboxID": sb.sandbox_id if sb else "",
                "SandboxKey": sb.netns_path if sb else "",
                "HairpinMode": False,
                "LinkLocalIPv6Address": "",
                "LinkLocalIPv6PrefixLen": 0,
                "Ports": dict(sb.port_settings) if sb else {},
                "SecondaryIPAddresses": None,
                "SecondaryIPv6Addresses": None,
                "EndpointID": dep.endpoint_id if dep else "",
                "Gateway": dep.gateway if dep else "",
                "GlobalIPv6Address": dep.ipv6 if dep else "",
                "GlobalIPv6PrefixLen": dep.prefixlen6 if dep else 0,
                "IPAddress": dep.ipv4 if dep else "",
                "IPPrefixLen": dep.prefixlen if dep else 0,
                "IPv6Gateway": dep.gateway6 if dep else "",
                "MacAddress": dep.mac if dep else "",
                "Networks": networks,
            }

    def networks_of(self, cid: str) -> list[str]:
        """Names of the networks a container is attached to (``ps --filter network``)."""
        with self._lock:
            return [self._networks[w.network_id].name for w in self._ordered_wanted(cid)
                    if w.network_id in self._networks]

    # ------------------------------------------------------------------ restart, shutdown

    def restore(self, alive: Callable[[str], bool] | Iterable[str],
                records: Callable[[str], dict[str, Any] | None] | None = None) -> list[str]:
        """At daemon start: keep what live containers use, remove every other leftover.

        ``alive``: a predicate on container ids or the collection of live ids. ``records``
        gives a container's record (for its published ports); returns the ids detached.
        """
        if not callable(alive):
            live = set(alive)
            alive = live.__contains__
        with self._lock:
            gone = [cid for cid in self._sandboxes if not alive(cid)]
            for cid in gone:
                try:
                    self._teardown(cid, emit=False)
                except Exception:
                    log.exception("restore: detach %s", cid[:12])
            for cid in [c for c in self._endpoints if c not in self._sandboxes]:
                for nid in list(self._endpoints[cid]):
                    self._leave(cid, nid)
                self._endpoints.pop(cid, None)
            self.ipam.release_unless(
                lambda nid, owner: nid in self._endpoints.get(owner, {}))
            veths = {ep.host_veth for eps in self._endpoints.values() for ep in eps.values()}
            bridges = set(self._bridge_names())
            for name, kind in self.br.links_with_alias(self.alias):
                if (kind == "bridge" and name not in bridges) or \
                        (kind == "veth" and name not in veths):
                    with contextlib.suppress(Exception):
                        self.br.delete_link(name)
            pinned = {sb.netns_path for sb in self._sandboxes.values() if sb.owns_netns}
            if self.netns_dir.is_dir():
                for entry in self.netns_dir.iterdir():
                    if str(entry) not in pinned:
                        with contextlib.suppress(OSError):
                            netns.remove(entry)
            for net in self._networks.values():
                if net.driver == "bridge" and net.bridge:
                    try:
                        self._ensure_bridge(net)
                    except Exception:
                        log.exception("restore: bridge %s", net.bridge)
            for cid, sb in self._sandboxes.items():
                if sb.ports:
                    self._rereserve(cid, sb)
            self._apply_rules()
            for cid, sb in self._sandboxes.items():
                sb.dns_on = False
                try:
                    self._dns_add(cid, sb)
                except Exception:
                    log.exception("restore: dns for %s", cid[:12])
            self._refresh_dns_view()
            return gone

    def _rereserve(self, cid: str, sb: Sandbox) -> None:
        """Hold the host ports of a container that kept running while the daemon was down."""
        from . import ports

        primary = self.primary_endpoint(cid)
        if primary is None:
            return
        net = self._networks.get(primary.network_id)
        wanted = []
        for pm in sb.ports:
            m = ports.PortMapping(**pm)
            req = ports.PortRequest(m.proto, m.container_port, m.host_ip, m.host_port,
                                    m.host_port)
            if req not in wanted:
                wanted.append(req)
        try:
            self._held().reserve(cid, wanted, container_ip=primary.ipv4,
                                 bridge=net.bridge if net else "",
                                 container_ip6=primary.ipv6 or None)
        except Exception:
            log.exception("restore: ports of %s", cid[:12])

    def teardown(self) -> None:
        """Remove every bridge and our nftables table (tests, uninstall): nothing may run."""
        with self._lock:
            if self._sandboxes:
                raise Conflict("containers are still attached")
            for net in self._networks.values():
                if net.bridge:
                    with contextlib.suppress(Exception):
                        self.br.delete_link(net.bridge)
            with contextlib.suppress(Exception):
                self._nft_client().delete(self.table)
            self.close()

    def close(self) -> None:
        """At daemon stop: stop the DNS server and release held ports (containers keep
        running; restore() takes them up again)."""
        with self._lock:
            if self._dns is not None:
                with contextlib.suppress(Exception):
                    self._dns.close()
                self._dns = None
            if self._reservations is not None:
                with contextlib.suppress(Exception):
                    self._reservations.close()
                self._reservations = None


class ContainerView:
    """A container's networking as api/containers.py reads it (listings)."""

    def __init__(self, manager: NetworkManager, cid: str) -> None:
        self._m = manager
        self.container_id = cid
        ep = manager.primary_endpoint(cid)
        self.ip = ep.ipv4 if ep else ""
        self.gateway = ep.gateway if ep else ""
        self.mac = ep.mac if ep else ""
        self.host_veth = ep.host_veth if ep else ""  # stats: the host end's counters

    def network_settings(self) -> dict[str, Any]:
        return self._m.network_settings(self.container_id)


def _port_key(key: str) -> tuple[int, str]:
    port, _, proto = key.partition("/")
    try:
        return int(port.split("-")[0]), proto
    except ValueError:
        return 0, key


def _dangling(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true"):
        return True
    if v in ("0", "false"):
        return False
    raise InvalidParameter(f"invalid filter 'dangling={value}'")


def _until(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        from datetime import datetime

        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise InvalidParameter(f"invalid filter 'until={value}'") from None
