"""nat.py's rules on the real kernel (root), proven with real traffic, without the daemon.

Every test builds its own lab: a private "host" network namespace (so nothing of the real host's
network configuration, nor its ``ip filter`` table, is ever read or changed) holding our bridges
and an uplink, "container" namespaces on those bridges and an "outside" namespace behind the
uplink, all made with pyroute2 and named ``dyp-<hex6>-<role>`` under /run/netns; our nftables
table is ``dyp-<hex6>``. Servers are python processes started with ``nsenter`` (killed by pid);
clients are sockets opened in a thread that joined a namespace. Deleting the namespaces removes
every link and table; the finalizer then fails the test if a namespace file is left.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _unusable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    try:
        import pyroute2  # noqa: F401
    except ImportError:
        return "pyroute2 not installed"
    for tool in ("nft", "nsenter"):
        if not shutil.which(tool):
            return f"{tool} not installed"
    return None


if (_why := _unusable()) is not None:
    pytest.skip(_why, allow_module_level=True)

from pyroute2 import IPRoute  # noqa: E402

from dockyard.network import nat, netns  # noqa: E402
from dockyard.network.ports import PortMapping  # noqa: E402

NETNS_DIR = Path("/run/netns")
UPLINK_HOST = "10.201.0.1"
UPLINK_OUT = "10.201.0.2"
BLOCKED = 1.0  # seconds a connection may take before it counts as dropped

SERVER = r"""
import socket, sys, threading
proto, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
socks = []
for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    s = socket.socket(fam, kind)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, port))
    except OSError:
        continue  # no IPv6 in this namespace
    if proto == "tcp":
        s.listen(16)
    socks.append(s)
def serve(s):
    while True:
        if proto == "tcp":
            c, peer = s.accept()
            c.sendall(f"{token} {peer[0]}\n".encode())
            c.close()
        else:
            data, peer = s.recvfrom(2048)
            s.sendto(f"{token} {peer[0]}\n".encode(), peer)
for s in socks[1:]:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print("ready", flush=True)
serve(socks[0])
"""


class Lab:
    """A private host namespace with bridges, containers and an outside namespace."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(3)
        self.table = f"dyp-{self.token}"
        self.namespaces: list[Path] = []
        self.servers: list[subprocess.Popen[str]] = []
        self.bridges: dict[str, nat.BridgeRules] = {}
        self.gateways: dict[str, str] = {}
        self.ips: dict[str, str] = {}
        self._n = 0
        try:
            self.host = self._ns("host")
            self.in_host(self._host_setup)
        except BaseException:
            self.close()
            raise

    # --- namespaces ---

    def _ns(self, role: str) -> Path:
        path = NETNS_DIR / f"dyp-{self.token}-{role}"
        netns.create(path)
        self.namespaces.append(path)
        return path

    def in_host(self, fn: Callable[[], Any]) -> Any:
        return netns.run_in(self.host, fn)

    def _host_setup(self) -> None:
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        Path("/proc/sys/net/ipv6/conf/all/forwarding").write_text("1\n")
        with IPRoute() as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")

    def set_br_netfilter(self, on: bool) -> None:
        def work() -> None:
            path = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
            if path.exists():  # per namespace: the real host's value is untouched
                path.write_text("1\n" if on else "0\n")
            elif on:
                pytest.skip("br_netfilter not available")

        self.in_host(work)

    # --- topology ---

    def bridge(self, name: str, subnet: str, subnet6: str | None = None, **kw: Any) -> str:
        net = ipaddress.ip_network(subnet)
        net6 = ipaddress.ip_network(subnet6) if subnet6 else None
        gw = str(net.network_address + 1)

        def work() -> None:
            with IPRoute() as ipr:
                ipr.link("add", ifname=name, kind="bridge")
                idx = ipr.link_lookup(ifname=name)[0]
                ipr.addr("add", index=idx, address=gw, prefixlen=net.prefixlen)
                if net6 is not None:
                    Path(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6").write_text("0\n")
                    ipr.addr("add", index=idx, address=str(net6.network_address + 1),
                             prefixlen=net6.prefixlen, flags=0x80)  # no DAD
                ipr.link("set", index=idx, state="up")

        self.in_host(work)
        self.bridges[name] = nat.BridgeRules(name, net, net6, **kw)
        self.gateways[name] = gw
        return gw

    def _veth(self, host_end: str, ns: Path, master: str | None) -> None:
        def work() -> None:
            with IPRoute() as ipr:
                ipr.link("add", ifname=host_end, kind="veth", peer={"ifname": f"{host_end}p"})
                idx = ipr.link_lookup(ifname=host_end)[0]
                if master is not None:
                    ipr.link("set", index=idx, master=ipr.link_lookup(ifname=master)[0])
                ipr.link("set", index=idx, state="up")
                fd = netns.open_fd(ns)
                try:
                    ipr.link("set", index=ipr.link_lookup(ifname=f"{host_end}p")[0], net_ns_fd=fd)
                finally:
                    os.close(fd)

        self.in_host(work)

    @staticmethod
    def _inside(ns: Path, peer: str, addr: str, plen: int, gw: str | None,
                addr6: str | None = None, gw6: str | None = None) -> None:
        def work() -> None:
            with IPRoute() as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
                idx = ipr.link_lookup(ifname=peer)[0]
                ipr.link("set", index=idx, ifname="eth0")
                ipr.addr("add", index=idx, address=addr, prefixlen=plen)
                if addr6:
                    Path("/proc/sys/net/ipv6/conf/eth0/disable_ipv6").write_text("0\n")
                    ipr.addr("add", index=idx, address=addr6, prefixlen=64, flags=0x80)
                ipr.link("set", index=idx, state="up")
                if gw:
                    ipr.route("add", dst="0.0.0.0/0", gateway=gw, oif=idx)
                if gw6:
                    ipr.route("add", dst="::/0", family=socket.AF_INET6, gateway=gw6, oif=idx)

        netns.run_in(ns, work)

    def container(self, role: str, bridge: str) -> Path:
        net = self.bridges[bridge]
        self._n += 1
        ns = self._ns(role)
        ip = str(net.subnet.network_address + 1 + self._n)
        ip6 = str(net.subnet6.network_address + 1 + self._n) if net.subnet6 else None
        self._veth(f"v{role}", ns, bridge)
        self._inside(ns, f"v{role}p", ip, net.subnet.prefixlen, self.gateways[bridge], ip6,
                     str(net.subnet6.network_address + 1) if net.subnet6 else None)
        self.ips[role] = ip
        if ip6:
            self.ips[role + "6"] = ip6
        return ns

    def outside(self, routes: tuple[str, ...] = ()) -> Path:
        """A namespace behind the host's uplink (10.201.0.2), with routes to ``routes`` via the
        host (what a neighbour on the LAN could add)."""
        ns = self._ns("out")
        self._veth("uplink", ns, None)

        def host_side() -> None:
            with IPRoute() as ipr:
                idx = ipr.link_lookup(ifname="uplink")[0]
                ipr.addr("add", index=idx, address=UPLINK_HOST, prefixlen=24)

        self.in_host(host_side)
        self._inside(ns, "uplinkp", UPLINK_OUT, 24, None)

        def add_routes() -> None:
            with IPRoute() as ipr:
                for dst in routes:
                    ipr.route("add", dst=dst, gateway=UPLINK_HOST)

        netns.run_in(ns, add_routes)
        return ns

    # --- rules ---

    def apply(self, ports: tuple[PortMapping, ...] = ()) -> None:
        self.in_host(lambda: nat.Nft().apply(self.table, list(self.bridges.values()), ports))

    def nft(self, *args: str, payload: str | None = None) -> str:
        def work() -> str:
            proc = subprocess.run(["nft", *args], input=payload, capture_output=True, text=True,
                                  check=True)
            return proc.stdout

        return self.in_host(work)

    # --- traffic ---

    def serve(self, ns: Path, token: str, port: int = 80, proto: str = "tcp") -> None:
        proc = subprocess.Popen(
            ["nsenter", f"--net={ns}", sys.executable, "-c", SERVER, proto, str(port), token],
            stdout=subprocess.PIPE, text=True,
        )
        self.servers.append(proc)
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(proc.stdout.readline()))
        reader.start()
        reader.join(10)
        assert ready == ["ready\n"], f"server {token} in {ns.name} did not start"

    @staticmethod
    def probe(ns: Path, addr: str, port: int = 80, proto: str = "tcp",
              timeout: float = BLOCKED) -> str | None:
        """The server's reply "<token> <peer address>" seen from ``ns``, None when nothing
        answers (dropped, refused or unreachable)."""

        def work() -> str | None:
            fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
            kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
            with socket.socket(fam, kind) as s:
                s.settimeout(timeout)
                try:
                    s.connect((addr, port))
                    if proto == "udp":
                        s.send(b"hi")
                    data = s.recv(256)
                except OSError:
                    return None
            return data.decode().strip() or None

        return netns.run_in(ns, work)

    def wait_reachable(self, ns: Path, addr: str, port: int, deadline: float = 10.0) -> bool:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.probe(ns, addr, port, timeout=0.3) is not None:
                return True
        return False

    def close(self) -> list[str]:
        for proc in self.servers:
            proc.kill()
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
        for path in reversed(self.namespaces):
            try:
                netns.remove(path)
            except OSError:
                pass  # reported below as left behind
        return [p.name for p in NETNS_DIR.glob(f"dyp-{self.token}-*")] if NETNS_DIR.exists() else []


@pytest.fixture
def lab() -> Iterator[Lab]:
    made = Lab()
    try:
        yield made
    finally:
        left = made.close()
    assert not left, f"namespaces left behind: {left}"


def _route_loopback_via(gw: str) -> None:
    """Make this namespace send 127.0.0.2 to ``gw`` on eth0, as a hostile container could."""
    Path("/proc/sys/net/ipv4/conf/eth0/route_localnet").write_text("1\n")
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname="eth0")[0]
        ipr.rule("del", table=255, priority=0)  # the local table first, moved after ours
        ipr.rule("add", table=255, priority=100)
        ipr.route("add", dst="127.0.0.2/32", gateway=gw, oif=idx, table=100)
        ipr.rule("add", dst="127.0.0.2", dst_len=32, table=100, priority=10)


def _ruleset_json(lab: Lab) -> list[dict[str, Any]]:
    out = json.loads(lab.nft("-j", "list", "ruleset"))["nftables"]
    for o in out:  # handles differ between equal rulesets
        for v in o.values():
            if isinstance(v, dict):
                v.pop("handle", None)
    return [o for o in out if "metainfo" not in o]


# --- published ports ----------------------------------------------------------------------


def test_published_port_from_host_loopback_and_outside(lab):
    lab.bridge("dypa", "10.202.1.0/24")
    a1 = lab.container("a1", "dypa")
    out = lab.outside(routes=("10.202.1.0/24",))
    lab.serve(a1, "a1")
    lab.serve(a1, "a1udp", 53, "udp")
    ports = (
        PortMapping("tcp", "", 8080, lab.ips["a1"], 80, "dypa"),
        PortMapping("udp", "", 5353, lab.ips["a1"], 53, "dypa"),
        PortMapping("tcp", "127.0.0.1", 9090, lab.ips["a1"], 80, "dypa"),
    )
    assert lab.probe(lab.host, "127.0.0.1", 8080) is None  # nothing before the rules
    lab.apply(ports)
    lab.apply(ports)  # idempotent
    first = _ruleset_json(lab)
    lab.apply(ports)
    assert _ruleset_json(lab) == first

    gw = lab.gateways["dypa"]
    # host -> its own address (output chain); the container sees the real source
    assert lab.probe(lab.host, UPLINK_HOST, 8080) == f"a1 {UPLINK_HOST}"
    # host -> 127.0.0.1 (route_localnet + masquerade of 127.0.0.0/8 to the bridge address)
    assert lab.probe(lab.host, "127.0.0.1", 8080) == f"a1 {gw}"
    assert lab.probe(lab.host, "127.0.0.1", 9090) == f"a1 {gw}"
    assert lab.probe(lab.host, "127.0.0.1", 5353, "udp") == f"a1udp {gw}"
    # outside -> host address (prerouting)
    assert lab.probe(out, UPLINK_HOST, 8080) == f"a1 {UPLINK_OUT}"
    assert lab.probe(out, UPLINK_HOST, 5353, "udp") == f"a1udp {UPLINK_OUT}"
    # published on 127.0.0.1 only: not from outside
    assert lab.probe(out, UPLINK_HOST, 9090) is None
    # nothing reaches the container directly, only through the published port
    assert lab.probe(out, lab.ips["a1"], 80) is None
    # the container itself can reach the outside (masquerade to the uplink address)
    lab.serve(out, "out", 7000)
    assert lab.probe(a1, UPLINK_OUT, 7000) == f"out {UPLINK_HOST}"
    # route_localnet on the bridge must not open the host's loopback services to containers
    lab.serve(lab.host, "hostlo", 7001)
    assert lab.probe(lab.host, "127.0.0.1", 7001) == "hostlo 127.0.0.1"
    netns.run_in(a1, lambda: _route_loopback_via(gw))
    assert lab.probe(a1, "127.0.0.2", 7001) is None
    guard = [o["rule"] for o in json.loads(lab.nft("-j", "-a", "list", "chain", "inet", lab.table,
                                                    "input"))["nftables"] if "rule" in o]
    assert len(guard) == 1
    lab.nft("delete", "rule", "inet", lab.table, "input", "handle", str(guard[0]["handle"]))
    assert lab.probe(a1, "127.0.0.2", 7001) == f"hostlo {lab.ips['a1']}"  # the guard mattered
    lab.apply(ports)
    assert lab.probe(a1, "127.0.0.2", 7001) is None

    lab.in_host(lambda: nat.Nft().delete(lab.table))
    assert lab.probe(lab.host, "127.0.0.1", 8080) is None
    assert lab.nft("list", "tables").strip() == ""


@pytest.mark.parametrize("br_netfilter", [False, True], ids=["plain", "br_netfilter"])
def test_container_reaches_published_port_of_neighbour(lab, br_netfilter):
    lab.set_br_netfilter(br_netfilter)
    lab.bridge("dypa", "10.202.1.0/24")
    a1 = lab.container("a1", "dypa")
    a2 = lab.container("a2", "dypa")
    lab.serve(a1, "a1")
    lab.apply((PortMapping("tcp", "", 8080, lab.ips["a1"], 80, "dypa"),))
    gw = lab.gateways["dypa"]
    # via the gateway address and via another host address; the reply comes back through the
    # host because the source is masqueraded to the bridge address
    assert lab.probe(a2, gw, 8080) == f"a1 {gw}"
    lab.outside()
    assert lab.probe(a2, UPLINK_HOST, 8080) == f"a1 {gw}"
    # hairpin to itself: under br_netfilter only with hairpin mode on the container's port
    if br_netfilter:
        lab.in_host(lambda: nat.set_hairpin("va1"))
    assert lab.probe(a1, gw, 8080) == f"a1 {gw}"


def test_ipv6_masquerade_and_dnat(lab):
    lab.bridge("dypa", "10.202.1.0/24", "fd00:202:1::/64")
    a1 = lab.container("a1", "dypa")
    out = lab.outside()

    def uplink6() -> None:
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname="uplink")[0]
            Path("/proc/sys/net/ipv6/conf/uplink/disable_ipv6").write_text("0\n")
            ipr.addr("add", index=idx, address="fd00:201::1", prefixlen=64, flags=0x80)

    def out6() -> None:
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname="eth0")[0]
            Path("/proc/sys/net/ipv6/conf/eth0/disable_ipv6").write_text("0\n")
            ipr.addr("add", index=idx, address="fd00:201::2", prefixlen=64, flags=0x80)

    lab.in_host(uplink6)
    netns.run_in(out, out6)
    lab.serve(a1, "a1")
    lab.serve(out, "out", 7000)
    # IPv6 neighbour discovery needs a moment on fresh links (before our rules: plain routing)
    assert lab.wait_reachable(lab.host, lab.ips["a16"], 80)
    assert lab.wait_reachable(lab.host, "fd00:201::2", 7000)
    lab.apply((PortMapping("tcp", "", 8080, lab.ips["a16"], 80, "dypa"),))
    assert lab.probe(out, "fd00:201::1", 8080) == "a1 fd00:201::2"
    assert lab.probe(a1, "fd00:201::2", 7000) == "out fd00:201::1"


# --- isolation, internal, icc -------------------------------------------------------------


def test_isolation_between_bridges(lab):
    lab.bridge("dypa", "10.202.1.0/24")
    lab.bridge("dypb", "10.202.2.0/24")
    a1 = lab.container("a1", "dypa")
    a2 = lab.container("a2", "dypa")
    b1 = lab.container("b1", "dypb")
    for ns, name in ((a1, "a1"), (b1, "b1")):
        lab.serve(ns, name)
    # without our rules the host routes between the bridges
    assert lab.probe(b1, lab.ips["a1"]) == f"a1 {lab.ips['b1']}"
    lab.apply((PortMapping("tcp", "", 8080, lab.ips["a1"], 80, "dypa"),))
    assert lab.probe(b1, lab.ips["a1"]) is None
    assert lab.probe(a1, lab.ips["b1"]) is None
    assert lab.probe(a2, lab.ips["a1"]) == f"a1 {lab.ips['a2']}"  # same bridge: fine
    # a published port is public: reachable from the other network through the host
    assert lab.probe(b1, lab.gateways["dypb"], 8080) == f"a1 {lab.gateways['dypa']}"


def test_internal_network(lab):
    lab.bridge("dypa", "10.202.1.0/24")
    lab.bridge("dypi", "10.202.3.0/24", internal=True)
    a1 = lab.container("a1", "dypa")
    i1 = lab.container("i1", "dypi")
    i2 = lab.container("i2", "dypi")
    out = lab.outside(routes=("10.202.3.0/24",))
    lab.serve(out, "out", 7000)
    lab.serve(i1, "i1")
    assert lab.probe(i1, UPLINK_OUT, 7000) is not None  # before our rules: routed
    lab.apply((PortMapping("tcp", "", 8081, lab.ips["i1"], 80, "dypi"),))
    assert lab.probe(a1, UPLINK_OUT, 7000) == f"out {UPLINK_HOST}"  # control
    assert lab.probe(i1, UPLINK_OUT, 7000) is None  # nothing leaves
    assert lab.probe(out, lab.ips["i1"]) is None  # nothing enters
    assert lab.probe(a1, lab.ips["i1"]) is None
    assert lab.probe(out, UPLINK_HOST, 8081) is None  # no published ports on internal networks
    assert lab.probe(i2, lab.ips["i1"]) == f"i1 {lab.ips['i2']}"  # within: fine
    table = json.loads(lab.nft("-j", "list", "table", "inet", lab.table))["nftables"]
    masq = [o["rule"] for o in table if "rule" in o and o["rule"]["chain"] == "postrouting"]
    assert all(r["comment"] != "dockyard:dypi" for r in masq)


@pytest.mark.parametrize("br_netfilter", [False, True], ids=["plain", "br_netfilter"])
def test_icc_false(lab, br_netfilter):
    lab.set_br_netfilter(br_netfilter)
    lab.bridge("dypc", "10.202.4.0/24", icc=False)
    lab.bridge("dypa", "10.202.1.0/24")
    c1 = lab.container("c1", "dypc")
    c2 = lab.container("c2", "dypc")
    a1 = lab.container("a1", "dypa")
    a2 = lab.container("a2", "dypa")
    lab.serve(c1, "c1")
    lab.serve(c1, "c1-81", 81)
    lab.serve(a1, "a1")
    assert lab.probe(c2, lab.ips["c1"], 81) == f"c1-81 {lab.ips['c2']}"  # bridged, no rules yet
    lab.apply((PortMapping("tcp", "", 8080, lab.ips["c1"], 80, "dypc"),))
    assert lab.probe(c2, lab.ips["c1"], 81) is None
    # as in Docker, the published container port stays open to neighbours
    assert lab.probe(c2, lab.ips["c1"], 80) == f"c1 {lab.ips['c2']}"
    assert lab.probe(a2, lab.ips["a1"]) == f"a1 {lab.ips['a2']}"  # icc on the other bridge
    # the host and published ports still work (routed, not bridged)
    assert lab.probe(lab.host, lab.ips["c1"]) == f"c1 {lab.gateways['dypc']}"
    assert lab.probe(c2, lab.gateways["dypc"], 8080) == f"c1 {lab.gateways['dypc']}"
    # back to icc=true: the bridge-family table goes away
    lab.bridges["dypc"] = nat.BridgeRules("dypc", ipaddress.ip_network("10.202.4.0/24"))
    lab.apply()
    assert lab.probe(c2, lab.ips["c1"], 81) == f"c1-81 {lab.ips['c2']}"
    assert f"table bridge {lab.table}" not in lab.nft("list", "tables")


# --- coexistence with another engine's FORWARD drop ---------------------------------------

FOREIGN = """
table ip filter {
    chain FORWARD {
        type filter hook forward priority filter; policy drop;
        iifname "docker0" oifname != "docker0" accept
        oifname "docker0" ct state established,related accept
        iifname "dypa" oifname "dypz" drop comment "dockyard:another-table"
    }
}
"""


def _foreign_rules(lab: Lab) -> list[dict[str, Any]]:
    out = json.loads(lab.nft("-j", "-a", "list", "chain", "ip", "filter", "FORWARD"))["nftables"]
    return [o["rule"] for o in out if "rule" in o]


def test_coexistence_with_forward_drop(lab):
    lab.set_br_netfilter(True)
    lab.bridge("dypa", "10.202.1.0/24")
    a1 = lab.container("a1", "dypa")
    a2 = lab.container("a2", "dypa")
    out = lab.outside()
    lab.serve(out, "out", 7000)
    lab.serve(a1, "a1")
    lab.nft("-f", "-", payload=FOREIGN)
    before = _foreign_rules(lab)
    lab.apply((PortMapping("tcp", "", 8080, lab.ips["a1"], 80, "dypa"),))
    lab.apply((PortMapping("tcp", "", 8080, lab.ips["a1"], 80, "dypa"),))
    rules = _foreign_rules(lab)
    ours = [r for r in rules if r.get("comment") == f"dockyard:{lab.table}"]
    assert len(ours) == 2 and rules[: len(before)] == before  # appended once, others untouched
    assert lab.probe(a1, UPLINK_OUT, 7000) == f"out {UPLINK_HOST}"
    assert lab.probe(out, UPLINK_HOST, 8080) == f"a1 {UPLINK_OUT}"
    assert lab.probe(a2, lab.ips["a1"]) == f"a1 {lab.ips['a2']}"  # bridged, via br_netfilter

    # the inserted accepts are what makes it work: without them the foreign drop wins
    for r in ours:
        lab.nft("delete", "rule", "ip", "filter", "FORWARD", "handle", str(r["handle"]))
    assert lab.probe(a1, UPLINK_OUT, 7000) is None
    assert lab.probe(a2, lab.ips["a1"]) is None
    lab.apply()
    assert lab.probe(a1, UPLINK_OUT, 7000) == f"out {UPLINK_HOST}"

    lab.in_host(lambda: nat.Nft().delete(lab.table))
    assert _foreign_rules(lab) == before
    assert lab.nft("list", "tables").split() == ["table", "ip", "filter"]


def test_coexistence_leaves_accepting_chain_alone(lab):
    lab.bridge("dypa", "10.202.1.0/24")
    lab.nft("-f", "-", payload=FOREIGN.replace("policy drop", "policy accept"))
    before = _foreign_rules(lab)
    lab.apply()
    assert _foreign_rules(lab) == before
