"""The bridge network on the real kernel (root): two fake containers (namespaces made by the test)
on a test bridge reach each other and the gateway; our nftables table holds the masquerade rule;
none/host/container: modes; restore after a restart; nothing is left behind.

Hermetic: every test uses its own bridge ``dy-t-<hex6>``, nftables table ``dy-t-<hex6>``, a /24 in
10.200-250.x.0 that the host does not use, namespaces pinned under its own tmp dir and a private
``ip_forward`` file (the host's forwarding setting is left alone). Traffic goes only to addresses
of those namespaces. A finalizer removes every link, namespace and table even when a test fails,
then fails the test if anything is left.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


def _unusable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    try:
        import pyroute2  # noqa: F401
    except ImportError:
        return "pyroute2 not installed"
    if not shutil.which("nft"):
        return "nft not installed (apt-get install nftables)"
    return None


if (_why := _unusable()) is not None:
    pytest.skip(_why, allow_module_level=True)

from types import SimpleNamespace  # noqa: E402

from dockyard.network import bridge as br  # noqa: E402
from dockyard.network import netns  # noqa: E402
from dockyard.network.manager import NetworkError, NetworkManager  # noqa: E402
from dockyard.network.nat import Nft  # noqa: E402
from dockyard.store.metadata import MetadataStore  # noqa: E402


def _free_subnet() -> ipaddress.IPv4Network:
    used = br.host_networks()
    for _ in range(200):
        net = ipaddress.IPv4Network(
            f"10.{200 + secrets.randbelow(51)}.{secrets.randbelow(256)}.0/24"
        )
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free test subnet")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ping(ns_path: str | None, addr: str, timeout: float = 1.0) -> bool:
    """One ICMP echo from inside ``ns_path`` (the host's netns for None); True on a reply."""

    def work() -> bool:
        ident = secrets.randbelow(0xFFFF)
        payload = b"dockyard-test"
        header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
        packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, 1) + payload
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
            s.sendto(packet, (addr, 0))
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                s.settimeout(left)
                try:
                    data, src = s.recvfrom(2048)
                except TimeoutError:
                    return False
                icmp = data[(data[0] & 0x0F) * 4 :]
                kind, _, _, rid, _ = struct.unpack("!BBHHH", icmp[:8])
                if kind == 0 and rid == ident and src[0] == addr:
                    return True
        return False

    return netns.run_in(ns_path, work) if ns_path else work()


def _links() -> set[str]:
    return {name for _, name in socket.if_nameindex()}


def _nft_table(table: str) -> list | None:
    return Nft().list_table(table)


class Env:
    def __init__(self, tmp: Path) -> None:
        token = secrets.token_hex(3)
        self.bridge = f"dy-t-{token}"
        self.table = f"dy-t-{token}"
        self.subnet = _free_subnet()
        self.tmp = tmp
        self.exec_root = tmp / "exec"
        self.state = tmp / "state"
        self.ip_forward = tmp / "ip_forward"
        self.ip_forward.write_text("0\n")
        self.ids: set[str] = set()
        self.managers: list[NetworkManager] = []
        self.extra_links: list[str] = []
        self.meta = MetadataStore(tmp / "data")

    def manager(self, restore: bool = True) -> NetworkManager:
        m = NetworkManager(
            self.meta,
            self.exec_root,
            bridge=self.bridge,
            bip=str(self.subnet),
            nat_table=self.table,
            ip_forward=self.ip_forward,
        )
        if restore:
            m.restore(set())  # as the daemon does at start: the default bridge and our rules
        self.managers.append(m)
        return m

    def new_id(self) -> str:
        cid = secrets.token_hex(32)
        self.ids.add(cid)
        return cid

    def cleanup(self) -> list[str]:
        """Force-remove everything this test may have made; return what had to be removed."""
        leftovers = []
        for m in self.managers:
            m.close()
        for name, _ in br.links_with_alias(f"dockyard:{self.table}"):
            if name != self.bridge and br.delete_link(name):
                leftovers.append(name)
        for name in self.extra_links:
            if br.delete_link(name):
                leftovers.append(name)
        if br.delete_link(self.bridge):
            leftovers.append(self.bridge)
        if self.exec_root.joinpath("netns").is_dir():
            for entry in self.exec_root.joinpath("netns").iterdir():
                leftovers.append(str(entry))
                netns.remove(entry)
        if _nft_table(self.table) is not None:
            leftovers.append(f"nft table {self.table}")
            Nft().remove(self.table)
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f if str(self.tmp) in line]
        for m in mounts:
            netns.remove(m)
        leftovers += mounts
        return leftovers


def attach(m: NetworkManager, cid: str, mode: str = "default", resolve=lambda r: r):
    """register + netns_for (what the engine does at create and start) -> the endpoint."""
    rec = {"ID": cid, "Name": "/c" + cid[:6], "Config": {}, "HostConfig": {"NetworkMode": mode}}
    if not mode.startswith("container:"):
        m.register(cid, rec["Name"], rec["HostConfig"], None)
    path = m.netns_for(cid, rec, resolve)
    ep = m.primary_endpoint(cid)
    return SimpleNamespace(
        netns_path=path, ip=ep.ipv4 if ep else "", gateway=ep.gateway if ep else "",
        prefixlen=ep.prefixlen if ep else 0, mac=ep.mac if ep else "",
        host_veth=ep.host_veth if ep else "")


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.cleanup()
    e.meta.close()


def _teardown(env: Env, m: NetworkManager) -> None:
    for cid in list(m._sandboxes):
        m.forget(cid)
    m.teardown()
    assert env.cleanup() == []  # the manager itself removed everything


def test_two_containers_reach_each_other_and_the_gateway(env):
    m = env.manager()
    a, b = env.new_id(), env.new_id()
    ea = attach(m, a)
    eb = attach(m, b)
    gateway = str(env.subnet.network_address + 1)
    assert (ea.ip, eb.ip) == (
        str(env.subnet.network_address + 2),
        str(env.subnet.network_address + 3),
    )
    assert ea.gateway == gateway and ea.prefixlen == 24
    assert env.ip_forward.read_text().strip() == "1"
    assert Path(ea.netns_path).parent == env.exec_root / "netns"
    assert netns.is_mounted_ns(ea.netns_path)

    assert ping(ea.netns_path, eb.ip)
    assert ping(eb.netns_path, ea.ip)
    assert ping(ea.netns_path, gateway)
    assert ping(None, ea.ip)  # the host reaches the container through the bridge
    assert not ping(ea.netns_path, str(env.subnet.network_address + 99), timeout=0.3)

    inside = subprocess.run(
        ["nsenter", f"--net={ea.netns_path}", "ip", "-j", "addr", "show", "dev", "eth0"],
        capture_output=True,
        text=True,
        check=True,
    )
    [link] = json.loads(inside.stdout)
    assert link["ifname"] == "eth0" and link["address"] == ea.mac and link["mtu"] == 1500
    assert {"family": "inet", "local": ea.ip, "prefixlen": 24} in [
        {k: i[k] for k in ("family", "local", "prefixlen")} for i in link["addr_info"]
    ]
    routes = subprocess.run(
        ["nsenter", f"--net={ea.netns_path}", "ip", "-j", "route"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {"dst": "default", "gateway": gateway, "dev": "eth0"}.items() <= json.loads(
        routes.stdout
    )[0].items()
    assert set(br.bridge_ports(env.bridge)) == {ea.host_veth, eb.host_veth}
    _teardown(env, m)


def test_masquerade_and_forward_rules_in_our_table(env):
    m = env.manager()
    attach(m, env.new_id())
    table = _nft_table(env.table)
    assert table is not None
    rules = [o["rule"] for o in table if "rule" in o]
    masq = [r for r in rules if {"masquerade": None} in r["expr"] and str(
        env.subnet.network_address) in json.dumps(r["expr"])]
    assert masq
    exprs = masq[0]["expr"]
    assert {"masquerade": None} in exprs
    assert any(
        e.get("match", {}).get("right")
        == {"prefix": {"addr": str(env.subnet.network_address), "len": 24}}
        for e in exprs
    )
    assert any(
        e.get("match", {}).get("op") == "!=" and e["match"]["right"] == env.bridge for e in exprs
    )
    hooks = {o["chain"].get("hook") for o in table if "chain" in o}
    assert {"forward", "postrouting"} <= hooks
    _teardown(env, m)
    assert _nft_table(env.table) is None


def test_none_host_and_container_modes(env):
    m = env.manager()
    none_id, host_id, base_id, shared_id = (env.new_id() for _ in range(4))
    none = attach(m, none_id, "none")
    names = netns.run_in(none.netns_path, lambda: [n for _, n in socket.if_nameindex()])
    assert names == ["lo"]
    assert ping(none.netns_path, "127.0.0.1")
    assert none.ip == ""

    host = attach(m, host_id, "host")
    assert host.netns_path is None and m.network_settings(host_id)["SandboxKey"] == ""
    assert set(m.network_settings(host_id)["Networks"]) == {"host"}

    base = attach(m, base_id)
    shared = attach(m, shared_id, "container:web", {"web": base_id}.get)
    assert shared.netns_path == base.netns_path
    with pytest.raises(NetworkError, match="non running container"):
        attach(m, env.new_id(), "container:nope")
    assert attach(m, base_id).netns_path == base.netns_path  # idempotent

    assert not m.detach(shared_id)  # a sharer has no sandbox of its own
    assert netns.is_mounted_ns(base.netns_path)
    _teardown(env, m)


def test_restore_releases_vanished_containers_and_crash_leftovers(env):
    m = env.manager()
    keep, gone = env.new_id(), env.new_id()
    ek = attach(m, keep)
    eg = attach(m, gone)
    # leftovers of a crash: an address and a wired netns with no endpoint record
    ghost = env.new_id()
    nid = m.inspect_network("bridge")["Id"]
    env.meta.query("INSERT INTO ip_allocations VALUES (?, ?, ?)",
                   (nid, str(env.subnet.network_address + 50), ghost))
    ghost_ns = netns.create(env.exec_root / "netns" / ghost)
    ghost_veth = br.create_endpoint(
        br.EndpointSpec(
            ghost,
            ghost_ns,
            env.bridge,
            ipaddress.IPv4Interface(f"{env.subnet.network_address + 50}/24"),
            env.subnet.network_address + 1,
            "02:42:00:00:00:01",
            alias=f"dockyard:{env.table}",
        )
    )

    restarted = env.manager(restore=False)  # a new daemon reads the saved state
    assert restarted.restore({keep}) == [gone]
    assert set(restarted._sandboxes) == {keep}
    assert not br.link_exists(eg.host_veth) and not br.link_exists(ghost_veth)
    assert not Path(eg.netns_path).exists() and not ghost_ns.exists()
    assert [(a, o) for _, a, o in restarted.ipam.allocations()] == [(ek.ip, keep)]
    assert ping(ek.netns_path, ek.gateway)
    again = attach(restarted, env.new_id())
    assert again.ip == eg.ip  # the released address is handed out again
    _teardown(env, restarted)


def test_failed_attach_leaves_nothing(env, monkeypatch):
    m = env.manager()

    def boom(spec):
        raise br.NetlinkError("injected")

    monkeypatch.setattr(br, "create_endpoint", boom)
    cid = env.new_id()
    with pytest.raises(br.NetlinkError):
        attach(m, cid)
    assert m.network_settings(cid)["SandboxKey"] == ""
    assert m.ipam.allocations() == []
    assert list((env.exec_root / "netns").iterdir()) == []
    _teardown(env, m)


def test_host_networks_sees_the_bridge_unless_excluded(env):
    m = env.manager()
    assert env.subnet in br.host_networks()
    assert env.subnet not in br.host_networks(exclude=(env.bridge,))
    assert m.inspect_network("bridge")["IPAM"]["Config"][0]["Subnet"] == str(env.subnet)
    _teardown(env, m)


def _udp_recv_in(ns_path: str, port: int, ready, box: dict) -> None:
    def work() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("0.0.0.0", port))
            s.settimeout(3)
            ready.set()
            try:
                data, src = s.recvfrom(100)
                box["got"] = (data, src[0])
            except TimeoutError:
                box["got"] = None

    netns.run_in(ns_path, work)


def test_outbound_traffic_is_masqueraded_and_inbound_is_dropped(env):
    """A fake upstream: a namespace behind a test veth with no route back to the bridge subnet.

    Only the two test interfaces get ``conf/<if>/forwarding=1`` (IPv4 forwarding is decided by the
    input device), so the host's own forwarding setting is left alone.
    """
    import threading

    from pyroute2 import IPRoute

    m = env.manager()
    cid = env.new_id()
    att = attach(m, cid)
    upstream = _free_subnet()
    while upstream.overlaps(env.subnet):
        upstream = _free_subnet()
    host_if, peer_if = f"dyo{env.bridge[5:]}", f"dyp{env.bridge[5:]}"
    env.extra_links = [host_if]
    outside = netns.create(env.tmp / "outside")
    host_ip, out_ip = str(upstream.network_address + 1), str(upstream.network_address + 2)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=host_if, kind="veth", peer={"ifname": peer_if})
            index = ipr.link_lookup(ifname=host_if)[0]
            ipr.addr("add", index=index, address=host_ip, prefixlen=24)
            ipr.link("set", index=index, state="up")
            fd = os.open(outside, os.O_RDONLY)
            try:
                ipr.link("set", index=ipr.link_lookup(ifname=peer_if)[0], net_ns_fd=fd)
            finally:
                os.close(fd)

        def configure_outside() -> None:
            with IPRoute() as ipr:
                index = ipr.link_lookup(ifname=peer_if)[0]
                ipr.addr("add", index=index, address=out_ip, prefixlen=24)
                ipr.link("set", index=index, state="up")

        netns.run_in(outside, configure_outside)
        for name in (env.bridge, host_if):
            Path(f"/proc/sys/net/ipv4/conf/{name}/forwarding").write_text("1\n")

        ready, box = threading.Event(), {}
        port = 40000 + secrets.randbelow(20000)
        receiver = threading.Thread(target=_udp_recv_in, args=(outside, port, ready, box))
        receiver.start()
        assert ready.wait(3)

        def send() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"hello", (out_ip, port))

        netns.run_in(att.netns_path, send)
        receiver.join()
        assert box["got"] == (b"hello", host_ip)  # source rewritten to the host's address
        assert ping(att.netns_path, out_ip)  # replies are de-NATed and forwarded back

        # inbound: the upstream routes the bridge subnet via the host; our forward chain drops
        def route_in() -> None:
            with IPRoute() as ipr:
                ipr.route("add", dst=str(env.subnet), gateway=host_ip)

        netns.run_in(outside, route_in)
        assert not ping(str(outside), att.ip, timeout=0.5)
    finally:
        br.delete_link(host_if)
        netns.remove(outside)
    _teardown(env, m)
