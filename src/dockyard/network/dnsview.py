"""What the embedded DNS answers: an immutable snapshot of names per network (pure).

The network manager builds a new :class:`DNSView` after every change of endpoints, names or
aliases and swaps it in whole; the DNS thread only reads the current one, so it never takes
the manager's lock (and can never deadlock with a caller holding it).

Names on a user-defined network, for every container on it: its name, its short ID, its
aliases (``--network-alias``, ``network connect --alias``; Compose service names arrive as
aliases), and each of those qualified with the network's name. A ``--link NAME:ALIAS`` on a
user-defined network makes ALIAS a name for the linking container only, as in Docker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ContainerDNS:
    networks: tuple[str, ...] = ()  # the user-defined networks the container is on
    servers: tuple[str, ...] = ()  # its --dns, forwarded to before anything else
    links: Mapping[str, str] = field(default_factory=dict)  # link alias -> linked name


@dataclass(frozen=True)
class DNSView:
    # network id -> lower-case name -> (IPv4 addresses, IPv6 addresses)
    names: Mapping[str, Mapping[str, tuple[list[str], list[str]]]] = field(default_factory=dict)
    containers: Mapping[str, ContainerDNS] = field(default_factory=dict)

    def lookup(self, cid: str, qname: str, qtype: str) -> list[str] | None:
        """Addresses of ``qname`` on the networks ``cid`` is on: None when no such name
        (the query is forwarded), [] when the name is known but has no ``qtype`` record."""
        me = self.containers.get(cid, ContainerDNS())
        qname = qname.rstrip(".").lower()
        qname = me.links.get(qname, qname)
        found: list[str] | None = None
        for nid in me.networks:
            hit = self.names.get(nid, {}).get(qname)
            if hit is None:
                continue
            found = found or []
            family = {"A": hit[0], "AAAA": hit[1]}.get(qtype, [])
            found += [addr for addr in family if addr not in found]
        return found

    def servers(self, cid: str) -> list[str]:
        return list(self.containers.get(cid, ContainerDNS()).servers)


def _link_aliases(links: list[str]) -> dict[str, str]:
    """``name:alias`` (also the daemon's own ``/name:/container/alias``) -> {alias: name}."""
    out = {}
    for link in links:
        target, _, alias = link.partition(":")
        target = target.strip("/")
        out[(alias.rpartition("/")[2] or target).lower()] = target.lower()
    return out


def build(endpoints: Mapping[str, Mapping[str, Any]], networks: Mapping[str, Any],
          wanted: Mapping[str, Mapping[str, Any]], container_names: Mapping[str, str],
          servers: Mapping[str, list[str]]) -> DNSView:
    """``endpoints``: cid -> network id -> endpoint (``ipv4``, ``ipv6``); ``networks``: id ->
    network (``name``, ``user_defined``); ``wanted``: cid -> network id -> what the container
    asked for (``aliases``, ``links``); ``servers``: cid -> its --dns."""
    names: dict[str, dict[str, tuple[list[str], list[str]]]] = {}
    containers: dict[str, ContainerDNS] = {}
    for cid, eps in endpoints.items():
        name = container_names.get(cid, "")
        mine: list[str] = []
        links: dict[str, str] = {}
        for nid, ep in eps.items():
            net = networks.get(nid)
            if net is None or not net.user_defined:
                continue
            mine.append(nid)
            w = wanted.get(cid, {}).get(nid)
            links.update(_link_aliases(w.links if w is not None else []))
            known = {cid[:12]}
            if name:
                known |= {name, f"{name}.{net.name}"}
            for alias in (w.aliases if w is not None else []):
                known |= {alias, f"{alias}.{net.name}"}
            table = names.setdefault(nid, {})
            for n in known:
                v4, v6 = table.setdefault(n.lower(), ([], []))
                if ep.ipv4:
                    v4.append(ep.ipv4)
                if ep.ipv6:
                    v6.append(ep.ipv6)
        containers[cid] = ContainerDNS(tuple(mine), tuple(servers.get(cid) or ()), links)
    return DNSView(names, containers)
