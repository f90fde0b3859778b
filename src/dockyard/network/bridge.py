"""The bridge driver's netlink side: bridges, veth pairs, addresses and routes via pyroute2.

Every operation is a netlink request (pyroute2), never an ``ip`` subprocess. Work inside a
container's namespace runs in a thread that joined it (see ``netns.run_in``), so the daemon never
forks. Names are deterministic so that a restarted daemon finds what it made: the host end of a
container's veth pair is ``vd<10 hex>`` and its temporary peer name ``vp<10 hex>`` (both
derived from the container and network ids; IFNAMSIZ allows 15 characters), renamed ``ethN``
inside the container. Every bridge and host-side veth the daemon makes carries the alias
(IFLA_IFALIAS) ``dockyard:<nat table>`` so that a restarted daemon, and the tests, find their
own leftovers and never touch anyone else's links.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import netns

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
IFNAMSIZ = 15

# Addresses from IPAM are unique by construction; without this flag an IPv6 address stays
# "tentative" (unusable) for the ~1 s of duplicate address detection after a start.
IFA_F_NODAD = 0x02


class NetlinkError(RuntimeError):
    """A netlink operation failed; the message names the interface and the step."""


def _iproute():  # imported lazily: the CLI never needs pyroute2
    try:
        from pyroute2 import IPRoute
    except ImportError as error:  # pragma: no cover - dependency declared in pyproject
        raise NetlinkError("pyroute2 is not installed (pip install pyroute2)") from error
    return IPRoute()


def veth_names(container_id: str, network_id: str = "") -> tuple[str, str]:
    """(host end, temporary peer name) of a container's endpoint on a network:
    ``vd``/``vp`` + 10 hex of sha256(container id[:network id])."""
    key = f"{container_id}:{network_id}" if network_id else container_id
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"vd{digest}", f"vp{digest}"


def mac_for(ip: ipaddress.IPv4Address) -> str:
    """Docker's (<= 25) MAC for an IPv4 endpoint: 02:42 followed by the four address bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


@dataclass(frozen=True)
class BridgeSpec:
    name: str
    address: ipaddress.IPv4Interface  # gateway address with the subnet's prefix, e.g. 172.17.0.1/16
    mtu: int = 1500
    alias: str = ""  # IFLA_IFALIAS, ``dockyard:<table>``: marks the bridge as ours
    address6: ipaddress.IPv6Interface | None = None

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= IFNAMSIZ:
            raise ValueError(f"invalid bridge name {self.name!r}: 1 to {IFNAMSIZ} characters")


def _index(ipr, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def enable_ip_forward(path: Path = IP_FORWARD) -> bool:
    """Turn on IPv4 forwarding; returns True when it was off before."""
    if path.read_text().strip() == "1":
        return False
    path.write_text("1\n")
    return True


def ensure_bridge(spec: BridgeSpec) -> int:
    """Create the bridge if missing, give it its gateway address, bring it up; returns its index.

    Idempotent: an existing bridge keeps its other addresses; a link of that name that is not a
    bridge is an error (we never take over interfaces we did not make).
    """
    with _iproute() as ipr:
        index = _index(ipr, spec.name)
        if index is None:
            try:
                ipr.link("add", ifname=spec.name, kind="bridge", mtu=spec.mtu)
            except Exception as error:
                raise NetlinkError(f"create bridge {spec.name}: {error}") from error
            index = _index(ipr, spec.name)
            if index is None:
                raise NetlinkError(f"bridge {spec.name} vanished after creation")
        else:
            link = ipr.get_links(index)[0]
            kind = _link_kind(link)
            if kind != "bridge":
                raise NetlinkError(f"{spec.name} exists and is a {kind or 'non-bridge'} link")
        have = {
            (a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=index, family=2)
        }
        want = (str(spec.address.ip), spec.address.network.prefixlen)
        if want not in have:
            ipr.addr(
                "add",
                index=index,
                address=want[0],
                prefixlen=want[1],
                broadcast=str(spec.address.network.broadcast_address),
            )
        if spec.address6 is not None:
            have6 = {
                (a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                for a in ipr.get_addr(index=index, family=10)
            }
            want6 = (str(spec.address6.ip), spec.address6.network.prefixlen)
            if want6 not in have6:
                _sysctl6(spec.name, "disable_ipv6", "0")
                ipr.addr("add", index=index, address=want6[0], prefixlen=want6[1],
                         flags=IFA_F_NODAD)
        if spec.alias:
            ipr.link("set", index=index, ifalias=spec.alias)
        ipr.link("set", index=index, state="up")
        return index


def _sysctl6(ifname: str, key: str, value: str) -> None:
    path = Path(f"/proc/sys/net/ipv6/conf/{ifname}/{key}")
    try:
        if path.read_text().strip() != value:
            path.write_text(value + "\n")
    except OSError:
        pass


def links_with_alias(alias: str) -> list[tuple[str, str | None]]:
    """(name, kind) of every host link whose IFLA_IFALIAS is ``alias``."""
    with _iproute() as ipr:
        return [
            (link.get_attr("IFLA_IFNAME"), _link_kind(link))
            for link in ipr.get_links()
            if link.get_attr("IFLA_IFALIAS") == alias
        ]


def _link_kind(link) -> str | None:
    info = link.get_attr("IFLA_LINKINFO")
    return info.get_attr("IFLA_INFO_KIND") if info is not None else None


def delete_link(name: str) -> bool:
    """Delete a link by name in the host namespace; returns False when it did not exist."""
    with _iproute() as ipr:
        index = _index(ipr, name)
        if index is None:
            return False
        ipr.link("del", index=index)
        return True


def link_exists(name: str) -> bool:
    with _iproute() as ipr:
        return _index(ipr, name) is not None


@dataclass(frozen=True)
class EndpointSpec:
    container_id: str
    netns_path: Path
    bridge: str
    address: ipaddress.IPv4Interface  # container address with the subnet's prefix
    gateway: ipaddress.IPv4Address | None  # None: no default route through this endpoint
    mac: str
    mtu: int = 1500
    ifname: str = "eth0"
    network_id: str = ""  # part of the veth names: one pair per container and network
    alias: str = ""  # IFLA_IFALIAS of the host end
    address6: ipaddress.IPv6Interface | None = None
    gateway6: ipaddress.IPv6Address | None = None


def create_endpoint(spec: EndpointSpec) -> str:
    """Wire a container's netns to the bridge; returns the host-side veth name.

    Order matters: the veth pair is made in the host namespace (both names are ours), the host end
    is enslaved and raised, and only then is the peer moved into the container's namespace, where it
    is renamed ``eth0`` (it could not have that name in the host, where ``eth0`` may exist), given
    its MAC, MTU and address, raised, and the default route added (which needs the link up).
    A failure at any step removes the pair so nothing is left half-made.
    """
    host, peer = veth_names(spec.container_id, spec.network_id)
    with _iproute() as ipr:
        bridge_index = _index(ipr, spec.bridge)
        if bridge_index is None:
            raise NetlinkError(f"bridge {spec.bridge} does not exist")
        if _index(ipr, host) is not None:  # a leftover from a crash: replace it
            ipr.link("del", ifname=host)
        try:
            ipr.link(
                "add",
                ifname=host,
                kind="veth",
                peer={"ifname": peer, "mtu": spec.mtu},
                mtu=spec.mtu,
            )
            host_index = _index(ipr, host)
            peer_index = _index(ipr, peer)
            ipr.link("set", index=host_index, master=bridge_index)
            if spec.alias:
                ipr.link("set", index=host_index, ifalias=spec.alias)
            ipr.link("set", index=host_index, state="up")
            fd = netns.open_fd(spec.netns_path)
            try:
                ipr.link("set", index=peer_index, net_ns_fd=fd)
            finally:
                os.close(fd)
        except Exception as error:
            try:
                ipr.link("del", ifname=host)
            except Exception:
                pass
            raise NetlinkError(f"veth {host} for {spec.container_id[:12]}: {error}") from error
    try:
        netns.run_in(spec.netns_path, lambda: _configure_inside(spec, peer))
    except Exception as error:
        delete_link(host)  # deleting one end of a veth pair deletes the other, in any netns
        raise NetlinkError(f"configure {spec.ifname} in {spec.netns_path}: {error}") from error
    return host


def _configure_inside(spec: EndpointSpec, peer: str) -> None:
    with _iproute() as ipr:
        _lo_up(ipr)
        index = _index(ipr, peer)
        if index is None:
            raise NetlinkError(f"{peer} did not arrive in the namespace")
        ipr.link("set", index=index, ifname=spec.ifname, address=spec.mac, mtu=spec.mtu)
        ipr.addr(
            "add",
            index=index,
            address=str(spec.address.ip),
            prefixlen=spec.address.network.prefixlen,
            broadcast=str(spec.address.network.broadcast_address),
        )
        if spec.address6 is not None:
            _sysctl6("all", "disable_ipv6", "0")
            _sysctl6(spec.ifname, "disable_ipv6", "0")
            ipr.addr("add", index=index, address=str(spec.address6.ip),
                     prefixlen=spec.address6.network.prefixlen, flags=IFA_F_NODAD)
        ipr.link("set", index=index, state="up")
        if spec.gateway is not None:
            # proto boot (3), as ``ip route add`` makes it and Docker shows it
            ipr.route("add", dst="0.0.0.0/0", gateway=str(spec.gateway), oif=index, proto=3)
        if spec.gateway6 is not None:
            ipr.route("add", dst="::/0", family=10, gateway=str(spec.gateway6), oif=index,
                      proto=3)


def _lo_up(ipr) -> None:
    index = _index(ipr, "lo")
    if index is not None:
        ipr.link("set", index=index, state="up")


def loopback_up(netns_path: Path) -> None:
    """Bring ``lo`` up inside a namespace (``--network none`` gets only this)."""

    def work() -> None:
        with _iproute() as ipr:
            _lo_up(ipr)

    netns.run_in(netns_path, work)


def host_networks(exclude: Iterable[str] = ()) -> list[ipaddress.IPv4Network]:
    """IPv4 networks the host already uses: its addresses' subnets and its routes' destinations.

    Used by IPAM to skip pools that would overlap (Docker does the same, which is why dockyard
    picks 172.18.0.0/16 on a host where dockerd's docker0 holds 172.17.0.0/16). Default routes
    and loopback are ignored; links named in ``exclude`` (our own bridge, after a restart that lost
    the state) do not count.
    """
    nets: set[ipaddress.IPv4Network] = set()
    with _iproute() as ipr:
        skip = {i for name in exclude for i in ipr.link_lookup(ifname=name)}
        for addr in ipr.get_addr(family=2):
            ip = addr.get_attr("IFA_ADDRESS")
            if ip and addr["index"] not in skip and not ip.startswith("127."):
                nets.add(ipaddress.IPv4Network(f"{ip}/{addr['prefixlen']}", strict=False))
        for route in ipr.get_routes(family=2, table=254):
            dst = route.get_attr("RTA_DST")
            if dst and route["dst_len"] > 0 and route.get_attr("RTA_OIF") not in skip:
                nets.add(ipaddress.IPv4Network(f"{dst}/{route['dst_len']}", strict=False))
    return sorted(nets)


def bridge_ports(bridge: str) -> list[str]:
    """Names of the links enslaved to ``bridge`` (empty when it does not exist)."""
    with _iproute() as ipr:
        index = _index(ipr, bridge)
        if index is None:
            return []
        return [
            link.get_attr("IFLA_IFNAME")
            for link in ipr.get_links()
            if link.get_attr("IFLA_MASTER") == index
        ]
