"""nftables rules for bridge networks and published ports, in dockyard's own tables.

The rules are generated from the desired state (bridges, published ports) by pure functions
and applied as one ``nft -j -f -`` transaction that re-creates our ``inet <table>`` (``add table;
delete table; add table; ...``), so a change is atomic and idempotent. Chains of ``inet <table>``:

* ``prerouting`` (nat, dstnat) and ``output`` (nat, dstnat): DNAT of published ports, for
  ``fib daddr type local`` (every host address, 127.0.0.1 included) or the given host address;
  ``output`` serves connections made by the host itself (to its own address or to 127.0.0.1).
* ``postrouting`` (nat, srcnat): masquerade of a subnet leaving by another interface (IPv4 and,
  with ``subnet6``, IPv6); masquerade of 127.0.0.0/8 leaving by the bridge (host ->
  127.0.0.1:PORT, possible because ``route_localnet`` is set on the bridge); masquerade of
  DNATed traffic from the bridge's own subnet back into it (container -> host:PORT -> container
  on the same bridge), or the reply would go straight to the client, bypassing conntrack.
* ``input`` (filter): with ``route_localnet`` on, a container could address 127.0.0.0/8 of the
  host; only replies (conntrack established/related) may enter that way.
* ``forward`` (filter), in this order: internal networks drop everything entering or leaving
  their bridge; DNATed traffic (published ports) to a bridge is accepted; traffic from one of our
  bridges to another is dropped (isolation); traffic within a bridge is accepted, or with
  icc=false dropped except to published container ports and replies (seen here only under
  br_netfilter); outbound traffic is accepted; replies are accepted; the rest to a bridge is
  dropped.

icc=false: frames between two ports of the same bridge are *bridged*, they never reach the inet
forward hook unless br_netfilter is loaded and bridge-nf-call-iptables is 1. So the drop lives in
our own ``bridge <table>`` table (hook forward of the bridge family, which sees every bridged
frame without br_netfilter): ``ip saddr S ip daddr S drop`` for the subnet S of each icc=false
bridge. Matching the bridge itself (``meta ibrname``) would need nft_meta_bridge, which kernels
may lack; our subnets never overlap, so the subnet pair names the bridge. That table exists only
while some bridge has icc=false. Published ports of such a bridge stay reachable from its other
containers, as in Docker (see bridge_family_rules).

Our chains never rely on their own or anyone else's default policy. An accept in our table does
not override a drop in another table's chain on the same hook: a host where dockerd runs has
``table ip filter`` chain ``FORWARD`` with policy drop (iptables-nft, br_netfilter loaded). When
such a chain exists with policy drop we append ``iifname B accept`` and ``oifname B accept`` for
each bridge B of ours to it (appended, so that rules already there, e.g. Docker's isolation of
its own bridges, still come first), each with the comment ``dockyard:<table>``; the deciding
drops stay in our table. They are removed by handle, found by that exact comment, in the same
transaction; nothing else in other tables is ever changed. (dockerd on iptables-legacy keeps its
rules outside nftables: not handled.)
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .ports import PortMapping

DEFAULT_TABLE = "dockyard"
FAMILY = "inet"  # one table for IPv4 and IPv6
LOCALNET = ipaddress.IPv4Network("127.0.0.0/8")
# Chains of other tables that may drop forwarded traffic of ours (iptables-nft of dockerd).
FOREIGN_FORWARD = (("ip", "filter", "FORWARD"), ("ip6", "filter", "FORWARD"))
SYSCTL = Path("/proc/sys/net")


class NatError(RuntimeError):
    """nft is missing, or the kernel/nft refused our rules (message carries nft's stderr)."""


@dataclass(frozen=True)
class BridgeRules:
    bridge: str
    subnet: ipaddress.IPv4Network
    subnet6: ipaddress.IPv6Network | None = None
    masquerade: bool = True  # com.docker.network.bridge.enable_ip_masquerade
    internal: bool = False  # --internal: nothing enters or leaves the bridge
    icc: bool = True  # com.docker.network.bridge.enable_icc / --icc


@dataclass(frozen=True)
class ForeignChain:
    """What :meth:`Nft.apply` observed of another table's forward chain (see module doc)."""

    family: str
    table: str
    chain: str
    policy: str
    our_handles: tuple[int, ...] = ()


# --- expression helpers -------------------------------------------------------------------

IIF = {"meta": {"key": "iifname"}}
OIF = {"meta": {"key": "oifname"}}
NFPROTO = {"meta": {"key": "nfproto"}}
CTSTATE = {"ct": {"key": "state"}}
CTSTATUS = {"ct": {"key": "status"}}
FIB_DADDR_TYPE = {"fib": {"result": "type", "flags": ["daddr"]}}
ACCEPT: dict[str, Any] = {"accept": None}
DROP: dict[str, Any] = {"drop": None}
MASQ: dict[str, Any] = {"masquerade": None}


def _match(left: dict[str, Any], right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def _addr(family: str, field: str) -> dict[str, Any]:
    return {"payload": {"protocol": family, "field": field}}


def _fam(ip: str) -> str:
    return "ip" if ipaddress.ip_address(ip).version == 4 else "ip6"


def _prefix(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> dict[str, Any]:
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _net_match(field: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> dict[str, Any]:
    return _match(_addr("ip" if net.version == 4 else "ip6", field), _prefix(net))


def _table(family: str, name: str) -> dict[str, Any]:
    return {"family": family, "name": name}


def _chain(family: str, table: str, name: str, kind: str, hook: str, prio: int) -> dict[str, Any]:
    return {
        "add": {
            "chain": {
                "family": family,
                "table": table,
                "name": name,
                "type": kind,
                "hook": hook,
                "prio": prio,
                "policy": "accept",
            }
        }
    }


def _rule(
    table: str, chain: str, expr: list[dict[str, Any]], comment: str, family: str = FAMILY
) -> dict[str, Any]:
    rule = {"family": family, "table": table, "chain": chain, "expr": expr, "comment": comment}
    return {"add": {"rule": rule}}


def _subnets(net: BridgeRules) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [net.subnet] + ([net.subnet6] if net.subnet6 is not None else [])


def owner_comment(table: str) -> str:
    """The comment on every rule we put into another table's chain (exact match = ours)."""
    return f"dockyard:{table}"


# --- the generator (pure) -----------------------------------------------------------------


def _dnat_rules(table: str, chain: str, port: PortMapping) -> list[dict[str, Any]]:
    family = _fam(port.container_ip)
    if port.host_ip in ("", "0.0.0.0", "::"):
        wild = {"": family, "0.0.0.0": "ip", "::": "ip6"}[port.host_ip]
        if wild != family:
            raise ValueError(
                f"cannot DNAT {port.host_ip or '*'}:{port.host_port} to {port.container_ip}: "
                "address families differ"
            )
        dest = [
            _match(NFPROTO, "ipv4" if family == "ip" else "ipv6"),
            _match(FIB_DADDR_TYPE, "local"),
        ]
    else:
        if _fam(port.host_ip) != family:
            raise ValueError(
                f"cannot DNAT {port.host_ip}:{port.host_port} to {port.container_ip}: "
                "address families differ"
            )
        dest = [_match(_addr(family, "daddr"), str(ipaddress.ip_address(port.host_ip)))]
    expr = [
        *dest,
        _match(_addr(port.proto, "dport"), port.host_port),
        {"dnat": {"family": family, "addr": port.container_ip, "port": port.container_port}},
    ]
    tag = f"dockyard:{port.bridge}:{port.proto}/{port.host_port}"
    return [_rule(table, chain, expr, tag)]


def bridge_nat_rules(table: str, net: BridgeRules) -> list[dict[str, Any]]:
    """postrouting (masquerade) and input (localnet guard) rules of one bridge (pure)."""
    tag = f"dockyard:{net.bridge}"
    out: list[dict[str, Any]] = []
    if net.internal:
        return out
    if net.masquerade:
        for subnet in _subnets(net):
            expr = [_net_match("saddr", subnet), _match(OIF, net.bridge, "!="), MASQ]
            out.append(_rule(table, "postrouting", expr, tag))
    for subnet in _subnets(net):  # hairpin: container -> host:PORT -> container, same bridge
        expr = [
            _match(OIF, net.bridge),
            _net_match("saddr", subnet),
            _match(CTSTATUS, "dnat", "in"),
            MASQ,
        ]
        out.append(_rule(table, "postrouting", expr, tag))
    # host -> 127.0.0.1:PORT -> container: the source must not stay 127.0.0.1 on the bridge
    expr = [_match(OIF, net.bridge), _net_match("saddr", LOCALNET), MASQ]
    out.append(_rule(table, "postrouting", expr, tag))
    expr = [
        _match(IIF, net.bridge),
        _net_match("daddr", LOCALNET),
        _match(CTSTATE, {"set": ["new", "invalid", "untracked"]}),
        DROP,
    ]
    out.append(_rule(table, "input", expr, tag))
    return out


def forward_rules(
    table: str, nets: Sequence[BridgeRules], ports: Sequence[PortMapping] = ()
) -> list[dict[str, Any]]:
    """The ``forward`` chain, in the order described in the module doc (pure)."""
    out: list[dict[str, Any]] = []
    names = [n.bridge for n in nets]

    def add(net: BridgeRules, *expr: dict[str, Any]) -> None:
        out.append(_rule(table, "forward", list(expr), f"dockyard:{net.bridge}"))

    for net in nets:
        if net.internal:
            add(net, _match(IIF, net.bridge), _match(OIF, net.bridge, "!="), DROP)
            add(net, _match(OIF, net.bridge), _match(IIF, net.bridge, "!="), DROP)
    for net in nets:
        if not net.internal:
            add(net, _match(OIF, net.bridge), _match(CTSTATUS, "dnat", "in"), ACCEPT)
    for net in nets:
        others = [n for n in names if n != net.bridge]
        if others:
            add(net, _match(IIF, net.bridge), _match(OIF, {"set": sorted(others)}), DROP)
    for net in nets:
        within = [_match(IIF, net.bridge), _match(OIF, net.bridge)]
        if net.icc:
            add(net, *within, ACCEPT)
            continue
        for port in ports:  # icc=false (under br_netfilter): published ports stay open, as Docker
            if port.bridge == net.bridge:
                fam = _fam(port.container_ip)
                add(net, *within, _match(_addr(fam, "daddr"), port.container_ip),
                    _match(_addr(port.proto, "dport"), port.container_port), ACCEPT)
        add(net, *within, _match(CTSTATE, ["established", "related"], "in"), ACCEPT)
        add(net, *within, DROP)
    for net in nets:
        if not net.internal:
            add(net, _match(IIF, net.bridge), ACCEPT)
    for net in nets:
        add(net, _match(OIF, net.bridge), _match(CTSTATE, ["established", "related"], "in"), ACCEPT)
    for net in nets:
        add(net, _match(OIF, net.bridge), DROP)
    return out


def bridge_family_rules(
    table: str, nets: Sequence[BridgeRules], ports: Sequence[PortMapping] = ()
) -> list[dict[str, Any]]:
    """``bridge <table>``: drop bridged IP traffic within each icc=false bridge (pure); [] when
    no bridge needs it (the table is then not created).

    A published container port stays reachable from its neighbours, as in Docker (whose
    per-port accepts precede its icc drop): under br_netfilter, neighbour -> host:PORT is DNATed
    on the bridged frame and then *bridged* to the target, so it passes here. Conntrack cannot
    tell it apart in this family (``ct`` in bridge tables needs nf_conntrack_bridge), hence
    stateless accepts of that container address and port, both ways."""
    strict = {n.bridge: n for n in nets if not n.icc}
    if not strict:
        return []
    out = [
        {"add": {"table": _table("bridge", table)}},
        _chain("bridge", table, "forward", "filter", "forward", -200),
    ]
    for port in ports:
        if port.bridge not in strict:
            continue
        fam, tag = _fam(port.container_ip), f"dockyard:{port.bridge}"
        for addr, l4 in (("daddr", "dport"), ("saddr", "sport")):
            expr = [
                _match(_addr(fam, addr), port.container_ip),
                _match(_addr(port.proto, l4), port.container_port),
                ACCEPT,
            ]
            out.append(_rule(table, "forward", expr, tag, "bridge"))
    for net in strict.values():
        for subnet in _subnets(net):
            expr = [_net_match("saddr", subnet), _net_match("daddr", subnet), DROP]
            out.append(_rule(table, "forward", expr, f"dockyard:{net.bridge}", "bridge"))
    return out


def ruleset(
    table: str, bridges: Sequence[BridgeRules], ports: Sequence[PortMapping] = ()
) -> list[dict[str, Any]]:
    """The nft commands that (re)create ``inet <table>`` (and ``bridge <table>`` when some bridge
    has icc=false) for ``bridges`` and published ``ports`` (pure)."""
    t = _table(FAMILY, table)
    cmds: list[dict[str, Any]] = [
        {"add": {"table": t}},  # so that the delete cannot fail
        {"delete": {"table": t}},
        {"add": {"table": t}},
        _chain(FAMILY, table, "prerouting", "nat", "prerouting", -100),
        _chain(FAMILY, table, "output", "nat", "output", -100),
        _chain(FAMILY, table, "postrouting", "nat", "postrouting", 100),
        _chain(FAMILY, table, "input", "filter", "input", 0),
        _chain(FAMILY, table, "forward", "filter", "forward", 0),
    ]
    by_bridge = {n.bridge: n for n in bridges}
    for port in ports:
        net = by_bridge.get(port.bridge)
        if net is None or net.internal:  # Docker publishes nothing on internal networks
            continue
        cmds += _dnat_rules(table, "prerouting", port)
        cmds += _dnat_rules(table, "output", port)
    for net in bridges:
        cmds += bridge_nat_rules(table, net)
    cmds += forward_rules(table, bridges, ports)
    cmds += bridge_family_rules(table, bridges, ports)
    return cmds


def foreign_rules(
    table: str, bridges: Sequence[BridgeRules], chains: Iterable[ForeignChain]
) -> list[dict[str, Any]]:
    """Delete our old rules from other tables' forward chains (by handle) and append the
    accepts for our bridges where that chain's policy is drop (pure)."""
    out: list[dict[str, Any]] = []
    for ch in chains:
        for handle in ch.our_handles:
            rule = {"family": ch.family, "table": ch.table, "chain": ch.chain, "handle": handle}
            out.append({"delete": {"rule": rule}})
        if ch.policy != "drop":
            continue
        for net in bridges:
            for key in (IIF, OIF):
                expr = [_match(key, net.bridge), ACCEPT]
                out.append(_rule(ch.table, ch.chain, expr, owner_comment(table), ch.family))
    return out


def transaction(
    table: str,
    bridges: Sequence[BridgeRules],
    ports: Sequence[PortMapping] = (),
    *,
    foreign: Iterable[ForeignChain] = (),
    bridge_table_exists: bool = False,
) -> dict[str, Any]:
    """The whole ``nft -j -f -`` payload of :meth:`Nft.apply` for the observed state (pure)."""
    cmds: list[dict[str, Any]] = []
    if bridge_table_exists:
        cmds.append({"delete": {"table": _table("bridge", table)}})
    cmds += ruleset(table, bridges, ports)
    cmds += foreign_rules(table, bridges, foreign)
    return {"nftables": [{"metainfo": {"json_schema_version": 1}}, *cmds]}


def removal(
    table: str, *, inet: bool = True, bridge: bool = False, foreign: Iterable[ForeignChain] = ()
) -> dict[str, Any]:
    """The payload of :meth:`Nft.delete`: our tables that exist and our foreign rules (pure)."""
    cmds: list[dict[str, Any]] = []
    if inet:
        cmds.append({"delete": {"table": _table(FAMILY, table)}})
    if bridge:
        cmds.append({"delete": {"table": _table("bridge", table)}})
    cmds += foreign_rules(table, (), foreign)
    return {"nftables": cmds}


def parse_foreign(listing: list[dict[str, Any]], table: str) -> ForeignChain | None:
    """A ForeignChain from ``nft -j -a list chain ...`` output (pure)."""
    chain = next((o["chain"] for o in listing if "chain" in o), None)
    if chain is None:
        return None
    mark = owner_comment(table)
    handles = tuple(
        o["rule"]["handle"]
        for o in listing
        if "rule" in o and o["rule"].get("comment") == mark and "handle" in o["rule"]
    )
    return ForeignChain(
        chain["family"], chain["table"], chain["name"], chain.get("policy", "accept"), handles
    )


# --- effects ------------------------------------------------------------------------------


def set_bridge_sysctl(bridge: str, key: str, value: int | str, family: str = "ipv4") -> bool:
    """Write /proc/sys/net/<family>/conf/<bridge>/<key>; False when the bridge does not exist."""
    path = SYSCTL / family / "conf" / bridge / key
    try:
        if path.read_text().strip() == str(value):
            return True
        path.write_text(f"{value}\n")
    except FileNotFoundError:
        return False
    return True


def set_hairpin(port: str, on: bool = True) -> None:
    """Hairpin mode on a bridge port (netlink, in the caller's netns).

    Needed for a container reaching its *own* published port when br_netfilter is loaded: the
    DNAT then happens on the bridged frame and br_netfilter bridges it back out of the port it
    came in by, which the bridge refuses unless that port is in hairpin mode (Docker sets it
    with userland-proxy=false for the same reason). Without br_netfilter the packet is routed
    and this is not needed."""
    try:
        from pyroute2 import IPRoute
    except ImportError as error:  # pragma: no cover - dependency declared in pyproject
        raise NatError("pyroute2 is not installed") from error
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=port)
        if not found:
            raise NatError(f"bridge port {port} does not exist")
        ipr.brport("set", index=found[0], mode=1 if on else 0)


# (what to name, probe commands) tried one by one to explain a refused transaction
_DNAT_PROBE = {"dnat": {"family": "ip", "addr": "127.0.0.1", "port": 1}}
_PROBES: list[tuple[str, tuple[str, str, int, list[dict[str, Any]]] | None]] = [
    ("nf_tables with the inet family (CONFIG_NF_TABLES_INET)", None),
    ("NAT chains (nf_nat, nft_chain_nat)", ("nat", "prerouting", -100, [])),
    ("masquerade (nft_masq)", ("nat", "postrouting", 100, [MASQ])),
    ("DNAT (nft_nat)", ("nat", "prerouting", -100, [
        _match(NFPROTO, "ipv4"), _match(_addr("tcp", "dport"), 1), _DNAT_PROBE])),
    ("fib expressions (nft_fib_inet)", ("filter", "input", 0, [_match(FIB_DADDR_TYPE, "local")])),
    ("conntrack expressions (nft_ct)", ("filter", "forward", 0, [_match(CTSTATUS, "dnat", "in")])),
]


class Nft:
    """Runs ``nft -j`` (one process per change set)."""

    def __init__(self, binary: str | None = None) -> None:
        self._binary = binary

    def _nft(self) -> str:
        found = self._binary or shutil.which("nft") or shutil.which("nft", path="/usr/sbin:/sbin")
        if not found:
            raise NatError("nft not found: install the nftables package (apt-get install nftables)")
        return found

    def _exec(self, args: Sequence[str], payload: dict[str, Any] | None) -> tuple[int, str, str]:
        proc = subprocess.run(
            [self._nft(), "-j", *args],
            input=json.dumps(payload) if payload is not None else None,
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.returncode, proc.stdout, proc.stderr

    def run(self, args: Sequence[str], payload: dict[str, Any] | None = None) -> str:
        rc, out, err = self._exec(args, payload)
        if rc != 0:
            detail = err.strip() or out.strip() or f"exit {rc}"
            raise NatError(f"nft {' '.join(args)}: {detail}")
        return out

    # --- reading ---

    def tables(self) -> set[tuple[str, str]]:
        """(family, name) of every table in this network namespace."""
        out = json.loads(self.run(["list", "tables"]) or '{"nftables": []}')
        return {(o["table"]["family"], o["table"]["name"]) for o in out["nftables"] if "table" in o}

    def _foreign(self, table: str, tables: set[tuple[str, str]]) -> list[ForeignChain]:
        found = []
        for family, tname, chain in FOREIGN_FORWARD:
            if (family, tname) not in tables:
                continue
            try:
                out = self.run(["-a", "list", "chain", family, tname, chain])
            except NatError as error:
                if "No such file or directory" in str(error):
                    continue
                raise
            fc = parse_foreign(json.loads(out)["nftables"], table)
            if fc is not None:
                found.append(fc)
        return found

    def list_table(self, table: str = DEFAULT_TABLE) -> list[dict[str, Any]] | None:
        """Our table's objects as nft's JSON list, or None when the table does not exist."""
        try:
            out = self.run(["list", "table", FAMILY, table])
        except NatError as error:
            if "No such file or directory" in str(error):
                return None
            raise
        return json.loads(out)["nftables"]

    # --- changing ---

    def apply(
        self,
        table: str,
        bridges: Sequence[BridgeRules],
        ports: Sequence[PortMapping] = (),
    ) -> None:
        """Make our rules exactly ``bridges`` + ``ports``, in one transaction (idempotent)."""
        for net in bridges:  # host -> 127.0.0.1:PORT leaves by the bridge with source 127.0.0.1
            if not net.internal:
                set_bridge_sysctl(net.bridge, "route_localnet", 1)
        for attempt in (1, 2):
            tables = self.tables()
            foreign = self._foreign(table, tables)
            payload = transaction(
                table,
                bridges,
                ports,
                foreign=foreign,
                bridge_table_exists=("bridge", table) in tables,
            )
            rc, out, err = self._exec(["-f", "-"], payload)
            if rc == 0:
                return
            # a foreign chain may have changed under us (another engine's iptables-nft): once more
            if attempt == 1 and foreign:
                continue
            raise self._refused(table, bridges, err.strip() or out.strip() or f"exit {rc}")

    def delete(self, table: str = DEFAULT_TABLE) -> None:
        """Remove our tables and our rules in other tables' chains; nothing else."""
        tables = self.tables()
        payload = removal(
            table,
            inet=(FAMILY, table) in tables,
            bridge=("bridge", table) in tables,
            foreign=self._foreign(table, tables),
        )
        if payload["nftables"]:
            self.run(["-f", "-"], payload)

    # old names, kept for callers written before the ports issue
    def sync(self, nets: Iterable[BridgeRules], table: str = DEFAULT_TABLE) -> None:
        self.apply(table, list(nets), ())

    def remove(self, table: str = DEFAULT_TABLE) -> None:
        self.delete(table)

    # --- diagnosis ---

    def _refused(self, table: str, bridges: Sequence[BridgeRules], detail: str) -> NatError:
        if "Operation not permitted" in detail:
            return NatError(f"nft refused our rules (needs root / CAP_NET_ADMIN): {detail}")
        missing = self.missing_features(table, bridge_family=any(not n.icc for n in bridges))
        if missing:
            return NatError(
                "the kernel lacks what dockyard's network rules need: "
                + "; ".join(missing)
                + f" (nft: {detail})"
            )
        return NatError(f"nft refused our rules: {detail}")

    def missing_features(self, table: str, *, bridge_family: bool = False) -> list[str]:
        """Try each kernel feature we use in a scratch table; name those that fail."""
        probe = f"{table}-probe"[:255]
        missing = []
        for name, chain in _PROBES:
            cmds: list[dict[str, Any]] = [{"add": {"table": _table(FAMILY, probe)}}]
            if chain is not None:
                kind, hook, prio, expr = chain
                cmds.append(_chain(FAMILY, probe, "c", kind, hook, prio))
                if expr:
                    cmds.append(_rule(probe, "c", expr, "probe"))
            cmds.append({"delete": {"table": _table(FAMILY, probe)}})
            if self._exec(["-f", "-"], {"nftables": cmds})[0] != 0:
                missing.append(name)
                if chain is None:  # no inet table at all: the other probes say nothing more
                    break
        if bridge_family:
            cmds = [
                {"add": {"table": _table("bridge", probe)}},
                {"delete": {"table": _table("bridge", probe)}},
            ]
            if self._exec(["-f", "-"], {"nftables": cmds})[0] != 0:
                missing.append("nf_tables for the bridge family (nf_tables_bridge), for icc=false")
        return missing
