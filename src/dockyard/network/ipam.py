"""IP address management: pools (subnets) for networks and the addresses handed out from them.

A network's pools are its IPAM ``Config`` entries (subnet, gateway, ip-range, auxiliary
addresses), kept in the network's record; this module validates them (:func:`plan_pools`,
pure) and hands out addresses (:class:`IPAM`), each a row of ``ip_allocations`` in metadata.db
whose primary key (network, address) makes handing one out twice impossible, even across
threads or a crash. An allocation names its owner (a container id, or ``gateway``) so a
restarted daemon can release the addresses of endpoints that no longer exist.

Subnets for networks created without one come from the default address pools: Docker's
(``172.17.0.0/16`` ... ``172.31.0.0/16``, then ``192.168.0.0/20`` ... ``192.168.240.0/20``) or
the daemon's ``--default-address-pool base=CIDR,size=N``, skipping any that overlap another
network or a network the host uses (``host_networks``, injected).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import Conflict, Forbidden, InvalidParameter, NetworkError

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address

OVERLAP = "Pool overlaps with other one on this address space"


class IPAMError(NetworkError):
    """Bad request to IPAM (overlap, exhausted, out of subnet, taken); message is Docker-style."""


class AddressInUse(IPAMError, Conflict):
    status = 409


@dataclass(frozen=True)
class AddressPool:
    """``--default-address-pool base=CIDR,size=N``."""

    base: IPNet
    size: int

    @classmethod
    def parse(cls, text: str | dict[str, Any]) -> AddressPool:
        if isinstance(text, dict):
            items = {str(k).lower(): str(v) for k, v in text.items()}
        else:
            items = {}
            for part in text.split(","):
                key, eq, value = part.partition("=")
                if not eq:
                    raise ValueError(f"invalid default address pool {text!r}: expected "
                                     "base=CIDR,size=N")
                items[key.strip().lower()] = value.strip()
        if "base" not in items or "size" not in items:
            raise ValueError(f"invalid default address pool {text!r}: needs base and size")
        try:
            base = ipaddress.ip_network(items["base"], strict=False)
            size = int(items["size"])
        except ValueError as err:
            raise ValueError(f"invalid default address pool {text!r}: {err}") from None
        if not base.prefixlen <= size <= base.max_prefixlen:
            raise ValueError(f"invalid default address pool {text!r}: size {size} must be "
                             f"between {base.prefixlen} and {base.max_prefixlen}")
        return cls(base, size)

    def subnets(self) -> Iterator[IPNet]:
        if self.size == self.base.prefixlen:
            yield self.base
        else:
            yield from self.base.subnets(new_prefix=self.size)


def docker_default_pools() -> list[AddressPool]:
    """Docker's local-scope default address pools (moby ipamutils)."""
    out = [AddressPool(ipaddress.IPv4Network(f"172.{n}.0.0/16"), 16) for n in range(17, 32)]
    out.append(AddressPool(ipaddress.IPv4Network("192.168.0.0/16"), 20))
    return out


def default_pools(pools: Sequence[AddressPool] | None = None) -> Iterator[IPNet]:
    """Candidate subnets in order."""
    for pool in pools if pools is not None else docker_default_pools():
        yield from pool.subnets()


def overlaps(subnet: IPNet, others: Iterable[IPNet]) -> IPNet | None:
    """The first of ``others`` (same family) that overlaps ``subnet``, or None."""
    for other in others:
        if other.version == subnet.version and subnet.overlaps(other):  # type: ignore[arg-type]
            return other
    return None


@dataclass
class PoolConfig:
    """One IPAM ``Config`` entry, validated."""

    subnet: IPNet
    gateway: IPAddr | None = None
    ip_range: IPNet | None = None
    aux: dict[str, IPAddr] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.subnet.version

    def to_docker(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Subnet": str(self.subnet)}
        if self.ip_range is not None:
            out["IPRange"] = str(self.ip_range)
        if self.gateway is not None:
            out["Gateway"] = str(self.gateway)
        if self.aux:
            out["AuxiliaryAddresses"] = {k: str(v) for k, v in self.aux.items()}
        return out

    @classmethod
    def from_docker(cls, data: dict[str, Any]) -> PoolConfig:
        return cls(
            subnet=ipaddress.ip_network(data["Subnet"]),
            gateway=ipaddress.ip_address(data["Gateway"]) if data.get("Gateway") else None,
            ip_range=ipaddress.ip_network(data["IPRange"]) if data.get("IPRange") else None,
            aux={k: ipaddress.ip_address(v)
                 for k, v in (data.get("AuxiliaryAddresses") or {}).items()},
        )

    def reserved(self) -> set[IPAddr]:
        out: set[IPAddr] = {self.subnet.network_address, *self.aux.values()}
        if self.version == 4:
            out.add(self.subnet.broadcast_address)
        if self.gateway is not None:
            out.add(self.gateway)
        return out


def _net(text: Any, what: str) -> IPNet:
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        raise InvalidParameter(f"invalid CIDR address: {text}") from None


def _addr(text: Any, what: str) -> IPAddr:
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        raise InvalidParameter(f"invalid {what} address: {text}") from None


def parse_pool(entry: dict[str, Any]) -> PoolConfig | None:
    """One request ``Config`` entry -> PoolConfig; None when it names no subnet (pick one)."""
    if not isinstance(entry, dict):
        raise InvalidParameter("invalid IPAM config entry")
    subnet_text = entry.get("Subnet") or ""
    if not subnet_text:
        if entry.get("IPRange") or entry.get("Gateway") or entry.get("AuxiliaryAddresses"):
            raise InvalidParameter("ip-range, gateway and aux-address need a subnet")
        return None
    subnet = _net(subnet_text, "subnet")
    if str(subnet) != str(subnet_text).strip() and "/" in str(subnet_text):
        raise InvalidParameter(f"invalid subnet {subnet_text} : it should be {subnet}")
    if subnet.version == 4 and subnet.prefixlen > 30:
        raise InvalidParameter(f"invalid subnet {subnet}: too small, at most /30")
    pool = PoolConfig(subnet)
    if entry.get("IPRange"):
        rng = _net(entry["IPRange"], "ip-range")
        if rng.version != subnet.version or not rng.subnet_of(subnet):  # type: ignore[arg-type]
            raise InvalidParameter(f"no matching subnet for range {rng}")
        pool.ip_range = rng
    if entry.get("Gateway"):
        gw = _addr(entry["Gateway"], "gateway")
        if gw not in subnet:
            raise InvalidParameter(f"no matching subnet for gateway {gw}")
        if gw == subnet.network_address or (subnet.version == 4 and
                                            gw == subnet.broadcast_address):
            raise InvalidParameter(f"invalid gateway address {gw} for subnet {subnet}")
        pool.gateway = gw
    for name, text in (entry.get("AuxiliaryAddresses") or {}).items():
        aux = _addr(text, "auxiliary")
        if aux not in subnet:
            raise InvalidParameter(f"no matching subnet for aux-address {aux}")
        pool.aux[str(name)] = aux
    return pool


def ula_subnet(seed: str) -> ipaddress.IPv6Network:
    """A stable /64 from fd00::/8 for an IPv6 network created without a subnet."""
    digest = hashlib.sha256(seed.encode()).digest()
    prefix = bytes([0xFD]) + digest[:7]
    return ipaddress.IPv6Network((prefix + bytes(8), 64))


def plan_pools(
    request: dict[str, Any] | None,
    *,
    enable_ipv6: bool,
    taken: Iterable[IPNet],
    candidates: Iterable[IPNet],
    host_networks: Callable[[], Iterable[IPNet]] = lambda: (),
    seed: str = "",
) -> list[PoolConfig]:
    """The validated pools of a new network (pure).

    ``taken``: the subnets of every other network. Explicit subnets must not overlap them
    (Docker's "Pool overlaps with other one on this address space", 403); a network without an
    IPv4 subnet gets the first candidate that overlaps neither them nor the host's networks.
    Each pool gets a gateway: the given one, else the subnet's first host address.
    """
    request = request or {}
    driver = request.get("Driver") or "default"
    if driver != "default":
        raise InvalidParameter(f"IPAM driver {driver} is not supported (only default)")
    entries = request.get("Config") or []
    if not isinstance(entries, list):
        raise InvalidParameter("IPAM Config must be a list")
    taken = list(taken)
    pools: list[PoolConfig] = []
    for entry in entries:
        pool = parse_pool(entry)
        if pool is None:
            continue
        clash = overlaps(pool.subnet, taken + [p.subnet for p in pools])
        if clash is not None:
            raise Forbidden(f"invalid pool request: {OVERLAP}")
        pools.append(pool)
    if any(p.version == 6 for p in pools) and not enable_ipv6:
        raise InvalidParameter("an IPv6 subnet needs EnableIPv6 (--ipv6)")
    if not any(p.version == 4 for p in pools):
        host = list(host_networks())
        for candidate in candidates:
            if candidate.version != 4:
                continue
            if overlaps(candidate, taken) is None and overlaps(candidate, host) is None:
                pools.insert(0, PoolConfig(candidate))
                break
        else:
            raise Forbidden("could not find an available, non-overlapping IPv4 address pool "
                            "among the defaults to assign to the network")
    if enable_ipv6 and not any(p.version == 6 for p in pools):
        for n in range(16):
            candidate = ula_subnet(f"{seed}:{n}")
            if overlaps(candidate, taken) is None:
                pools.append(PoolConfig(candidate))
                break
    for pool in pools:
        if pool.gateway is None:
            pool.gateway = pool.subnet.network_address + 1
    return pools


class IPAM:
    """Addresses on top of metadata.db's ``ip_allocations`` (``meta``: a MetadataStore)."""

    def __init__(self, meta: Any) -> None:
        self.meta = meta

    def allocate(
        self,
        network_id: str,
        pools: Sequence[PoolConfig],
        owner: str,
        *,
        version: int = 4,
        want: str | IPAddr | None = None,
    ) -> tuple[IPAddr, PoolConfig] | None:
        """An address of the network's ``version`` pools for ``owner`` (its existing one if it
        holds one); None when the network has no pool of that family.

        ``want`` (``--ip``) may be any free address of a subnet; automatic ones come from the
        ip-range when there is one, lowest free first, never the gateway or an aux address.
        """
        family = [p for p in pools if p.version == version]
        if not family:
            if want is not None:
                raise InvalidParameter(f"no configured subnet or ip-range contain the IP "
                                       f"address {want}")
            return None
        wanted = _addr(want, "IP") if want is not None else None
        with self.meta.transaction() as conn:
            rows = conn.execute(
                "SELECT address FROM ip_allocations WHERE network_id = ? AND owner = ?",
                (network_id, owner)).fetchall()
            for (have,) in rows:
                ip = ipaddress.ip_address(have)
                if ip.version == version and (wanted is None or wanted == ip):
                    pool = next(p for p in family if ip in p.subnet)
                    return ip, pool
            used = {ipaddress.ip_address(r[0]) for r in conn.execute(
                "SELECT address FROM ip_allocations WHERE network_id = ?", (network_id,))}
            if wanted is not None:
                pool = next((p for p in family if wanted in p.subnet), None)
                if pool is None:
                    raise InvalidParameter(f"no configured subnet or ip-range contain the IP "
                                           f"address {wanted}")
                if wanted in used or wanted in pool.reserved():
                    raise AddressInUse("Address already in use")
                ip = wanted
            else:
                found = None
                for pool in family:
                    found = _lowest_free(pool, used)
                    if found is not None:
                        break
                if found is None:
                    raise IPAMError(f"no available IPv{version} addresses on this network's "
                                    "address pools")
                ip = found
            conn.execute("INSERT INTO ip_allocations(network_id, address, owner) VALUES(?,?,?)",
                         (network_id, str(ip), owner))
            return ip, pool

    def release(self, network_id: str, owner: str) -> list[str]:
        with self.meta.transaction() as conn:
            rows = [r[0] for r in conn.execute(
                "SELECT address FROM ip_allocations WHERE network_id = ? AND owner = ?",
                (network_id, owner))]
            conn.execute("DELETE FROM ip_allocations WHERE network_id = ? AND owner = ?",
                         (network_id, owner))
        return rows

    def release_network(self, network_id: str) -> None:
        with self.meta.transaction() as conn:
            conn.execute("DELETE FROM ip_allocations WHERE network_id = ?", (network_id,))

    def allocations(self, network_id: str | None = None) -> list[tuple[str, str, str]]:
        """(network id, address, owner) rows."""
        if network_id is None:
            rows = self.meta.query("SELECT network_id, address, owner FROM ip_allocations")
        else:
            rows = self.meta.query("SELECT network_id, address, owner FROM ip_allocations "
                                   "WHERE network_id = ?", (network_id,))
        return [(r[0], r[1], r[2]) for r in rows]

    def release_unless(self, keep: Callable[[str, str], bool]) -> list[tuple[str, str, str]]:
        """Drop every allocation for which ``keep(network_id, owner)`` is false (restore)."""
        gone = [row for row in self.allocations() if not keep(row[0], row[2])]
        if gone:
            with self.meta.transaction() as conn:
                conn.executemany(
                    "DELETE FROM ip_allocations WHERE network_id = ? AND address = ?",
                    [(n, a) for n, a, _ in gone])
        return gone


def _lowest_free(pool: PoolConfig, used: set[IPAddr]) -> IPAddr | None:
    net = pool.ip_range or pool.subnet
    skip = used | pool.reserved()
    cls = type(net.network_address)
    # Ends after at most len(skip) + 1 candidates unless the range is full.
    for n in range(int(net.network_address), int(net.broadcast_address) + 1):
        ip = cls(n)
        if ip not in skip:
            return ip
    return None
