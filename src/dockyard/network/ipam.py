"""IPv4 address management: pools (subnets) and the addresses handed out from them.

Pure logic over a ``Store`` (see store.py). A pool is a subnet with a gateway (the first host
address, ``.1``, unless given); addresses are handed out lowest-free-first, never twice, each
recorded with its owner (an endpoint/container id) so that a restart can release the addresses of
endpoints that no longer exist. Every change is saved before it is returned.

Subnets for new pools come from Docker's default address pools (``172.17.0.0/16`` for the default
bridge, then ``172.18.0.0/16`` ... ``172.31.0.0/16``, then ``192.168.0.0/20`` ...
``192.168.240.0/20``), skipping any that overlap another pool or a network the host uses
(``host_networks``, injected: ``bridge.host_networks`` reads them over netlink).
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .store import Store

IPv4Net = ipaddress.IPv4Network
IPv4Addr = ipaddress.IPv4Address


def default_pools() -> list[IPv4Net]:
    """Docker's default address pools, in order (daemon/config ``DefaultAddressPools``)."""
    pools = [IPv4Net(f"172.{n}.0.0/16") for n in range(17, 32)]
    pools += [IPv4Net(f"192.168.{n}.0/20") for n in range(0, 256, 16)]
    return pools


class IPAMError(Exception):
    """Bad request to IPAM (overlap, exhausted, out of subnet, taken); message is Docker-style."""


@dataclass
class Pool:
    name: str
    subnet: IPv4Net
    gateway: IPv4Addr
    allocations: dict[str, str] = field(default_factory=dict)  # address -> owner

    def to_json(self) -> dict[str, Any]:
        return {
            "subnet": str(self.subnet),
            "gateway": str(self.gateway),
            "allocations": dict(sorted(self.allocations.items())),
        }

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> Pool:
        return cls(
            name=name,
            subnet=IPv4Net(data["subnet"]),
            gateway=IPv4Addr(data["gateway"]),
            allocations=dict(data.get("allocations", {})),
        )

    @property
    def prefixlen(self) -> int:
        return self.subnet.prefixlen


def overlaps(subnet: IPv4Net, others: Iterable[IPv4Net]) -> IPv4Net | None:
    """The first of ``others`` that overlaps ``subnet``, or None."""
    for other in others:
        if subnet.overlaps(other):
            return other
    return None


class IPAM:
    def __init__(
        self,
        store: Store,
        *,
        host_networks: Callable[[], Iterable[IPv4Net]] = lambda: (),
        pools: Iterable[IPv4Net] | None = None,
    ) -> None:
        self._store = store
        self._host_networks = host_networks
        self._candidates = list(pools) if pools is not None else default_pools()
        self._lock = threading.RLock()
        data = store.load().get("pools", {})
        self._pools = {name: Pool.from_json(name, p) for name, p in data.items()}

    # -- pools ---------------------------------------------------------------------------------

    def _save(self) -> None:
        self._store.save({"pools": {n: p.to_json() for n, p in sorted(self._pools.items())}})

    def pools(self) -> dict[str, Pool]:
        with self._lock:
            return dict(self._pools)

    def get(self, name: str) -> Pool:
        try:
            return self._pools[name]
        except KeyError:
            raise IPAMError(f"no address pool for network {name}") from None

    def add_pool(
        self,
        name: str,
        subnet: str | IPv4Net | None = None,
        gateway: str | IPv4Addr | None = None,
    ) -> Pool:
        """Create (or return the existing, if compatible) pool for network ``name``."""
        with self._lock:
            want = IPv4Net(subnet, strict=False) if subnet is not None else None
            if name in self._pools:
                pool = self._pools[name]
                if want is not None and want != pool.subnet:
                    raise IPAMError(f"network {name} already has subnet {pool.subnet}, not {want}")
                return pool
            taken = [p.subnet for p in self._pools.values()]
            if want is not None:
                if want.prefixlen > 30:
                    raise IPAMError(f"subnet {want} is too small")
                clash = overlaps(want, taken)
                if clash is not None:
                    raise IPAMError(f"Pool overlaps with other one on this address space ({clash})")
                chosen = want
            else:
                chosen = self._pick(taken)
            gw = IPv4Addr(gateway) if gateway is not None else chosen.network_address + 1
            if gw not in chosen or gw in (chosen.network_address, chosen.broadcast_address):
                raise IPAMError(f"gateway {gw} is not a host address of {chosen}")
            pool = Pool(name=name, subnet=chosen, gateway=gw)
            self._pools[name] = pool
            self._save()
            return pool

    def _pick(self, taken: list[IPv4Net]) -> IPv4Net:
        host = list(self._host_networks())
        for candidate in self._candidates:
            if overlaps(candidate, taken) is None and overlaps(candidate, host) is None:
                return candidate
        raise IPAMError(
            "could not find an available, non-overlapping IPv4 address pool among the defaults "
            "to assign to the network"
        )

    def remove_pool(self, name: str) -> None:
        with self._lock:
            if self._pools.pop(name, None) is not None:
                self._save()

    # -- addresses -----------------------------------------------------------------------------

    def allocate(self, name: str, owner: str, address: str | IPv4Addr | None = None) -> IPv4Addr:
        """Hand out an address of pool ``name`` to ``owner`` (the same one again if it has one)."""
        with self._lock:
            pool = self.get(name)
            for have, who in pool.allocations.items():
                if who == owner and (address is None or IPv4Addr(address) == IPv4Addr(have)):
                    return IPv4Addr(have)
            reserved = {pool.subnet.network_address, pool.subnet.broadcast_address, pool.gateway}
            if address is not None:
                ip = IPv4Addr(address)
                if ip not in pool.subnet or ip in reserved:
                    raise IPAMError(f"address {ip} is not a usable address of {pool.subnet}")
                if str(ip) in pool.allocations:
                    raise IPAMError(f"Address already in use: {ip}")
            else:
                ip = self._lowest_free(pool, reserved)
            pool.allocations[str(ip)] = owner
            self._save()
            return ip

    @staticmethod
    def _lowest_free(pool: Pool, reserved: set[IPv4Addr]) -> IPv4Addr:
        used = {IPv4Addr(a) for a in pool.allocations} | reserved
        first = int(pool.subnet.network_address) + 1
        last = int(pool.subnet.broadcast_address) - 1
        for n in range(first, last + 1):
            ip = IPv4Addr(n)
            if ip not in used:
                return ip
        raise IPAMError(f"no available IPv4 addresses on this network's address pools: {pool.name}")

    def release(self, name: str, owner: str) -> list[IPv4Addr]:
        """Release every address ``owner`` holds in pool ``name``; returns them."""
        with self._lock:
            pool = self._pools.get(name)
            if pool is None:
                return []
            gone = [a for a, who in pool.allocations.items() if who == owner]
            for a in gone:
                del pool.allocations[a]
            if gone:
                self._save()
            return [IPv4Addr(a) for a in gone]

    def release_unless(self, keep: Callable[[str], bool]) -> list[tuple[str, IPv4Addr, str]]:
        """Release every allocation whose owner ``keep`` rejects (restore after a restart)."""
        with self._lock:
            dropped = []
            for pool in self._pools.values():
                for a, who in list(pool.allocations.items()):
                    if not keep(who):
                        del pool.allocations[a]
                        dropped.append((pool.name, IPv4Addr(a), who))
            if dropped:
                self._save()
            return dropped

    def owner_of(self, name: str, address: str | IPv4Addr) -> str | None:
        return self.get(name).allocations.get(str(IPv4Addr(address)))
