"""NetworkManager on a real metadata.db with fake netlink, nftables, netns and DNS (no root)."""

from __future__ import annotations

import pytest

from dockyard.network import bridge as real_br
from dockyard.network import manager as mgr
from dockyard.network.errors import Conflict, Forbidden, InvalidParameter, NotFound
from dockyard.network.ipam import AddressPool
from dockyard.network.manager import NetworkManager
from dockyard.store.metadata import MetadataStore

pytestmark = pytest.mark.unit


class FakeLinks:
    """The bridge module's surface, in memory."""

    BridgeSpec = real_br.BridgeSpec
    EndpointSpec = real_br.EndpointSpec
    IP_FORWARD = real_br.IP_FORWARD

    def __init__(self) -> None:
        self.links: dict[str, tuple[str, str]] = {}  # name -> (kind, alias)
        self.endpoints: dict[str, real_br.EndpointSpec] = {}
        self.fail_endpoint = False

    def ensure_bridge(self, spec):
        self.links[spec.name] = ("bridge", spec.alias)

    def delete_link(self, name):
        self.endpoints.pop(name, None)
        return self.links.pop(name, None) is not None

    def link_exists(self, name):
        return name in self.links

    def links_with_alias(self, alias):
        return [(n, k) for n, (k, a) in self.links.items() if a == alias]

    def create_endpoint(self, spec):
        if self.fail_endpoint:
            raise real_br.NetlinkError("boom")
        host = real_br.veth_names(spec.container_id, spec.network_id)[0]
        self.links[host] = ("veth", spec.alias)
        self.endpoints[host] = spec
        return host

    def loopback_up(self, path):
        pass

    def host_networks(self, exclude=()):
        return []

    def enable_ip_forward(self, path):
        return False


class FakeNft:
    def __init__(self) -> None:
        self.applied: list = []
        self.deleted: list = []

    def apply(self, table, bridges, ports=()):
        self.applied.append((table, list(bridges), list(ports)))

    def delete(self, table):
        self.deleted.append(table)


class FakeDNS:
    def __init__(self) -> None:
        self.served: dict[str, str] = {}

    def add(self, cid, path):
        self.served[cid] = path

    def remove(self, cid):
        self.served.pop(cid, None)

    def close(self):
        self.served.clear()


class Env:
    def __init__(self, tmp_path, monkeypatch) -> None:
        self.tmp = tmp_path
        self.meta = MetadataStore(tmp_path / "data")
        self.links = FakeLinks()
        self.nft = FakeNft()
        self.dns = FakeDNS()
        self.events: list[tuple[str, str, dict]] = []
        self.netns: set[str] = set()

        def create(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
            self.netns.add(str(path))
            return path

        def remove(path):
            self.netns.discard(str(path))

        monkeypatch.setattr(mgr.netns, "create", create)
        monkeypatch.setattr(mgr.netns, "remove", remove)

    def manager(self, **kw) -> NetworkManager:
        kw.setdefault("default_pools", [AddressPool.parse("base=10.77.0.0/16,size=24")])
        return NetworkManager(
            self.meta, self.tmp / "exec", bridge="dyt0", nat_table="dyt", nft=self.nft,
            emit=lambda **e: self.events.append((e["action"], e["actor_id"], e["attributes"])),
            dns=self.dns, netlink=self.links, ip_forward=False, **kw)


@pytest.fixture
def env(tmp_path, monkeypatch):
    e = Env(tmp_path, monkeypatch)
    yield e
    e.meta.close()


def rec(cid, name, mode="default", **hc):
    return {"ID": cid, "Name": "/" + name, "Config": {}, "HostConfig": {"NetworkMode": mode, **hc}}


CID = "a" * 64
CID2 = "b" * 64


def test_predefined_networks_are_stable(env):
    m = env.manager()
    names = {n["Name"]: n for n in m.list_networks()}
    assert set(names) == {"bridge", "host", "none"}
    assert names["none"]["Driver"] == "null" and names["host"]["Driver"] == "host"
    bridge = m.inspect_network("bridge")
    assert bridge["IPAM"]["Config"] == [{"Subnet": "10.77.0.0/24", "Gateway": "10.77.0.1"}]
    assert bridge["Options"]["com.docker.network.bridge.name"] == "dyt0"
    again = env.manager()
    assert {n["Name"]: n["Id"] for n in again.list_networks()} == \
        {k: v["Id"] for k, v in names.items()}
    for name in ("bridge", "host", "none"):
        with pytest.raises(Forbidden, match="pre-defined network and cannot be removed"):
            m.remove_network(name)


def test_bip_sets_the_default_bridge_subnet(env):
    m = env.manager(bip="10.99.3.1/24")
    assert m.inspect_network("bridge")["IPAM"]["Config"] == [
        {"Subnet": "10.99.3.0/24", "Gateway": "10.99.3.1"}]


def test_create_inspect_list_remove(env):
    m = env.manager()
    nid = m.create_network("app", labels={"x": "1"}, options={"com.docker.network.driver.mtu":
                                                              "1400"})["Id"]
    assert len(nid) == 64
    net = m.inspect_network("app")
    assert net["Id"] == nid and net["Driver"] == "bridge" and net["Scope"] == "local"
    assert net["IPAM"]["Config"] == [{"Subnet": "10.77.1.0/24", "Gateway": "10.77.1.1"}]
    assert m.inspect_network(nid[:5])["Name"] == "app"
    bridge = f"br-{nid[:12]}"
    assert env.links.links[bridge] == ("bridge", "dockyard:dyt")
    assert [b.bridge for b in env.nft.applied[-1][1]] == ["dyt0", bridge]
    with pytest.raises(Conflict, match="network with name app already exists"):
        m.create_network("app")
    assert [n["Name"] for n in m.list_networks({"type": ["custom"]})] == ["app"]
    assert [n["Name"] for n in m.list_networks({"label": ["x=1"]})] == ["app"]
    assert [n["Name"] for n in m.list_networks({"dangling": ["true"]})] == ["app"]
    assert {n["Name"] for n in m.list_networks({"driver": ["bridge"]})} == {"app", "bridge"}
    assert [n["Name"] for n in m.list_networks({"name": ["pp"]})] == ["app"]
    with pytest.raises(InvalidParameter):
        m.list_networks({"bogus": ["1"]})
    m.remove_network("app")
    assert bridge not in env.links.links
    with pytest.raises(NotFound, match="network app not found"):
        m.inspect_network("app")
    assert [e[0] for e in env.events] == ["create", "destroy"]
    assert env.events[0][2] == {"name": "app", "type": "bridge"}


def test_create_errors_leave_nothing(env):
    m = env.manager()
    m.create_network("one", ipam={"Config": [{"Subnet": "10.88.0.0/16"}]})
    with pytest.raises(Forbidden, match="Pool overlaps"):
        m.create_network("two", ipam={"Config": [{"Subnet": "10.88.1.0/24"}]})
    with pytest.raises(Forbidden, match="Pool overlaps"):
        m.create_network("two", ipam={"Config": [{"Subnet": "10.77.0.0/24"}]})  # default bridge
    with pytest.raises(NotFound, match='plugin "macvlan" not found'):
        m.create_network("two", driver="macvlan")
    with pytest.raises(Forbidden, match='only one instance of "host"'):
        m.create_network("two", driver="host")
    with pytest.raises(InvalidParameter):
        m.create_network("bad name")
    with pytest.raises(Forbidden):
        m.create_network("bridge")
    def boom(*a, **k):
        raise RuntimeError("nft refused")

    env.nft.apply = boom
    with pytest.raises(Exception, match="nft refused"):
        m.create_network("two")
    assert [n["Name"] for n in m.list_networks({"type": ["custom"]})] == ["one"]
    assert [n for n, (k, _) in env.links.links.items() if k == "bridge"] == \
        [f"br-{m.inspect_network('one')['Id'][:12]}"]


def test_register_validates_like_docker(env):
    m = env.manager()
    m.create_network("auto")
    m.create_network("fixed", ipam={"Config": [{"Subnet": "10.66.0.0/24"}]})
    with pytest.raises(NotFound, match="network nope not found"):
        m.register(CID, "c", {"NetworkMode": "nope"}, None)
    with pytest.raises(InvalidParameter, match="network-scoped alias is supported only"):
        m.register(CID, "c", {"NetworkMode": "default"},
                   {"EndpointsConfig": {"default": {"Aliases": ["x"]}}})
    with pytest.raises(InvalidParameter, match="supported on user defined networks only"):
        m.register(CID, "c", {"NetworkMode": "bridge"},
                   {"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": "10.77.0.9"}}}})
    with pytest.raises(InvalidParameter, match="user configured subnets"):
        m.register(CID, "c", {"NetworkMode": "auto"},
                   {"EndpointsConfig": {"auto": {"IPAMConfig": {"IPv4Address": "10.77.1.9"}}}})
    with pytest.raises(InvalidParameter, match="no configured subnet or ip-range contain"):
        m.register(CID, "c", {"NetworkMode": "fixed"},
                   {"EndpointsConfig": {"fixed": {"IPAMConfig": {"IPv4Address": "10.1.1.9"}}}})
    with pytest.raises(InvalidParameter, match="invalid port specification"):
        m.register(CID, "c", {"NetworkMode": "fixed", "PortBindings": {"99999/tcp": []}}, None)
    m.register(CID, "c", {"NetworkMode": "fixed"},
               {"EndpointsConfig": {"fixed": {"IPAMConfig": {"IPv4Address": "10.66.0.9"},
                                              "Aliases": ["web"]},
                                    "auto": {}}})
    assert m.networks_of(CID) == ["fixed", "auto"]
    with pytest.raises(Forbidden):  # a stopped container's networks are in use only by name
        m.remove_network("bridge")


def test_start_wires_every_network_and_stop_undoes_it(env):
    m = env.manager()
    m.create_network("fixed", ipam={"Config": [{"Subnet": "10.66.0.0/24"}]})
    m.create_network("other")
    hc = {"NetworkMode": "fixed"}
    m.register(CID, "web", hc, {"EndpointsConfig": {
        "fixed": {"IPAMConfig": {"IPv4Address": "10.66.0.9"}, "Aliases": ["svc"]},
        "other": {}}})
    path = m.netns_for(CID, rec(CID, "web", "fixed"))
    assert path == str(env.tmp / "exec" / "netns" / CID) and path in env.netns
    specs = sorted(env.links.endpoints.values(), key=lambda s: s.ifname)
    assert [(s.ifname, str(s.address), s.gateway is not None) for s in specs] == [
        ("eth0", "10.66.0.9/24", True), ("eth1", "10.77.1.2/24", False)]
    assert env.dns.served == {CID: path}
    assert m.nameserver(CID) == "127.0.0.11"
    ns = m.network_settings(CID, rec(CID, "web", "fixed"))
    assert ns["SandboxKey"] == path and ns["IPAddress"] == ""  # top level: default bridge only
    fixed = ns["Networks"]["fixed"]
    assert fixed["IPAddress"] == "10.66.0.9" and fixed["Gateway"] == "10.66.0.1"
    assert fixed["IPAMConfig"] == {"IPv4Address": "10.66.0.9"}
    assert fixed["Aliases"] == ["svc"] and fixed["DNSNames"] == ["web", "svc", CID[:12]]
    assert fixed["MacAddress"] == "02:42:0a:42:00:09"
    members = m.inspect_network("fixed")["Containers"]
    assert members[CID]["Name"] == "web" and members[CID]["IPv4Address"] == "10.66.0.9/24"
    with pytest.raises(Forbidden, match="has active endpoints"):
        m.remove_network("fixed")
    assert [e[0] for e in env.events[-2:]] == ["connect", "connect"]
    assert m.detach(CID) is True
    assert env.netns == set() and env.links.endpoints == {} and env.dns.served == {}
    assert m.ipam.allocations() == []
    assert m.network_settings(CID)["Networks"]["fixed"]["IPAddress"] == ""
    assert m.detach(CID) is False
    m.forget(CID)
    assert m.get(CID) is None
    m.remove_network("fixed")


def test_default_bridge_has_no_dns_and_fills_the_top_level(env):
    m = env.manager()
    m.register(CID, "plain", {"NetworkMode": "default"}, None)
    m.netns_for(CID, rec(CID, "plain"))
    ns = m.network_settings(CID)
    assert ns["IPAddress"] == "10.77.0.2" and ns["Gateway"] == "10.77.0.1"
    assert set(ns["Networks"]) == {"bridge"} and ns["Networks"]["bridge"]["DNSNames"] is None
    assert env.dns.served == {} and m.nameserver(CID) is None
    assert m.get(CID).ip == "10.77.0.2"
    m.forget(CID)
    assert env.links.endpoints == {}


def test_failed_start_leaves_nothing(env):
    m = env.manager()
    m.create_network("n1")
    m.register(CID, "x", {"NetworkMode": "n1"}, None)
    env.links.fail_endpoint = True
    with pytest.raises(Exception, match="boom"):
        m.netns_for(CID, rec(CID, "x", "n1"))
    assert env.netns == set() and m.ipam.allocations() == []
    assert m.network_settings(CID)["SandboxKey"] == ""
    env.links.fail_endpoint = False
    assert m.netns_for(CID, rec(CID, "x", "n1"))


def test_taken_ip_fails_start_and_releases(env):
    m = env.manager()
    m.create_network("f", ipam={"Config": [{"Subnet": "10.66.0.0/24"}]})
    settings = {"EndpointsConfig": {"f": {"IPAMConfig": {"IPv4Address": "10.66.0.9"}}}}
    m.register(CID, "a", {"NetworkMode": "f"}, settings)
    m.register(CID2, "b", {"NetworkMode": "f"}, settings)
    m.netns_for(CID, rec(CID, "a", "f"))
    with pytest.raises(Conflict, match="Address already in use"):
        m.netns_for(CID2, rec(CID2, "b", "f"))
    assert len(env.netns) == 1 and [a[2] for a in m.ipam.allocations()] == [CID]


def test_live_connect_and_disconnect(env):
    m = env.manager()
    m.create_network("n1")
    m.register(CID, "x", {"NetworkMode": "default"}, None)
    m.netns_for(CID, rec(CID, "x"))
    assert env.dns.served == {}
    m.connect("n1", CID, endpoint_config={"Aliases": ["alias1"]})
    assert set(m.network_settings(CID)["Networks"]) == {"bridge", "n1"}
    assert env.dns.served.get(CID)  # now on a user-defined network
    assert m._dns_lookup(CID, "alias1", "A") == ["10.77.1.2"]
    assert m._dns_lookup(CID, "x.n1", "A") == ["10.77.1.2"]
    assert m._dns_lookup(CID, "unknown", "A") is None
    with pytest.raises(Forbidden, match="already exists in network n1"):
        m.connect("n1", CID)
    with pytest.raises(InvalidParameter, match="network-scoped alias"):
        m.connect("bridge", CID2, endpoint_config={"Aliases": ["a"]}, name="y")
    m.disconnect("n1", CID)
    assert set(m.network_settings(CID)["Networks"]) == {"bridge"}
    assert len(env.links.endpoints) == 1
    with pytest.raises(Forbidden, match="is not connected to network n1"):
        m.disconnect("n1", CID)
    actions = [e[0] for e in env.events if e[0] in ("connect", "disconnect")]
    assert actions == ["connect", "connect", "disconnect"]


def test_connect_refused_for_host_mode(env):
    m = env.manager()
    m.create_network("n1")
    m.register(CID, "h", {"NetworkMode": "host"}, None)
    assert m.netns_for(CID, rec(CID, "h", "host")) is None
    with pytest.raises(InvalidParameter, match="host network"):
        m.connect("n1", CID)


def test_dns_round_robin_names_and_isolation(env):
    m = env.manager()
    m.create_network("n1")
    m.create_network("n2")
    for cid, name, net in ((CID, "a", "n1"), (CID2, "b", "n1"), ("c" * 64, "c", "n2")):
        m.register(cid, name, {"NetworkMode": net},
                   {"EndpointsConfig": {net: {"Aliases": ["shared"]}}})
        m.netns_for(cid, rec(cid, name, net))
    assert sorted(m._dns_lookup(CID, "shared", "A")) == ["10.77.1.2", "10.77.1.3"]
    assert m._dns_lookup(CID, "b", "A") == ["10.77.1.3"]
    assert m._dns_lookup(CID, "B", "AAAA") == []  # known, no IPv6
    assert m._dns_lookup(CID, "c", "A") is None  # another network
    assert m._dns_lookup(CID, CID2[:12], "A") == ["10.77.1.3"]


def test_restore_keeps_live_and_removes_leftovers(env):
    m = env.manager()
    m.create_network("n1")
    for cid in (CID, CID2):
        m.register(cid, cid[:3], {"NetworkMode": "n1"}, None)
        m.netns_for(cid, rec(cid, cid[:3], "n1"))
    env.links.links["vdstray"] = ("veth", "dockyard:dyt")
    env.links.links["br-stray"] = ("bridge", "dockyard:dyt")
    env.links.links["br-foreign"] = ("bridge", "")
    (env.tmp / "exec" / "netns" / "junk").write_text("")
    m.ipam.meta.query("INSERT INTO ip_allocations VALUES (?, ?, ?)",
                      (m.inspect_network("n1")["Id"], "10.77.1.200", "ghost"))
    env.dns.served.clear()
    again = env.manager()
    gone = again.restore({CID})
    assert gone == [CID2]
    assert "vdstray" not in env.links.links and "br-stray" not in env.links.links
    assert "br-foreign" in env.links.links
    assert sorted(a[2] for a in again.ipam.allocations()) == [CID]
    assert list(env.dns.served) == [CID]
    assert again.network_settings(CID)["Networks"]["n1"]["IPAddress"] == "10.77.1.2"
    with pytest.raises(Forbidden, match="active endpoints"):
        again.remove_network("n1")


def test_prune_removes_unused_user_networks(env):
    m = env.manager()
    m.create_network("used")
    m.create_network("unused", labels={"k": "v"})
    m.register(CID, "x", {"NetworkMode": "used"}, None)
    assert m.prune_networks({"label": ["k=nope"]}) == []
    assert m.prune_networks() == ["unused"]
    assert {n["Name"] for n in m.list_networks()} == {"bridge", "host", "none", "used"}


def test_ipv6_network(env):
    m = env.manager()
    m.create_network("six", enable_ipv6=True,
                     ipam={"Config": [{"Subnet": "fd00:7::/64"}]})
    m.register(CID, "s", {"NetworkMode": "six"}, None)
    m.netns_for(CID, rec(CID, "s", "six"))
    net = m.network_settings(CID)["Networks"]["six"]
    assert net["GlobalIPv6Address"] == "fd00:7::2" and net["GlobalIPv6PrefixLen"] == 64
    assert m.inspect_network("six")["EnableIPv6"] is True
    assert m._dns_lookup(CID, "s", "AAAA") == ["fd00:7::2"]


def test_dns_link_aliases_and_forwarders(env):
    m = env.manager(default_dns=["127.0.0.1"])
    m.create_network("n1")
    m.register(CID, "db", {"NetworkMode": "n1"}, None)
    m.netns_for(CID, rec(CID, "db", "n1"))
    m.register(CID2, "app", {"NetworkMode": "n1", "Dns": ["10.1.1.1"]},
               {"EndpointsConfig": {"n1": {"Links": ["db:database"]}}})
    m.netns_for(CID2, rec(CID2, "app", "n1", Dns=["10.1.1.1"]))
    # a link alias answers for the linking container only
    assert m._dns_lookup(CID2, "database", "A") == ["10.77.1.2"]
    assert m._dns_lookup(CID, "database", "A") is None
    # forwarders: the container's --dns, else the daemon's --dns, else the host's
    assert m._dns_forwarders(CID2) == ["10.1.1.1"]
    assert m._dns_forwarders(CID) == ["127.0.0.1"]
