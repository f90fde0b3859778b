"""Pure parts of the bridge driver: names, MACs, nftables rules (nat.py, checked by meaning),
--network parsing, stores."""

import ipaddress
import json
import stat

import pytest

from dockyard.network import bridge as br
from dockyard.network import nat
from dockyard.network.manager import NetworkError, parse_mode
from dockyard.network.ports import PortMapping
from dockyard.network.store import JSONFileStore, MemoryStore

pytestmark = pytest.mark.unit


def test_veth_names_are_deterministic_short_and_distinct():
    host, peer = br.veth_names("a" * 64)
    assert (host, peer) == br.veth_names("a" * 64)
    assert host.startswith("vd") and peer.startswith("vp")
    assert host[2:] == peer[2:] and len(host) == 12 <= br.IFNAMSIZ
    names = {br.veth_names(f"container-{i}")[0] for i in range(2000)}
    assert len(names) == 2000


def test_mac_from_ip():
    assert br.mac_for(ipaddress.IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"


def test_bridge_name_length():
    with pytest.raises(ValueError):
        br.BridgeSpec("x" * 16, ipaddress.IPv4Interface("10.0.0.1/24"))


def test_enable_ip_forward(scratch):
    path = scratch / "ip_forward"
    path.write_text("0\n")
    assert br.enable_ip_forward(path) is True
    assert path.read_text() == "1\n"
    assert br.enable_ip_forward(path) is False


# --- nat.py: the generated rules, read back as nft-like text -------------------------------

V4 = ipaddress.IPv4Network


def _side(x):
    if isinstance(x, dict):
        if "meta" in x:
            return x["meta"]["key"]
        if "payload" in x:
            return f"{x['payload']['protocol']} {x['payload']['field']}"
        if "ct" in x:
            return f"ct {x['ct']['key']}"
        if "fib" in x:
            return f"fib {','.join(x['fib']['flags'])} {x['fib']['result']}"
        if "prefix" in x:
            return f"{x['prefix']['addr']}/{x['prefix']['len']}"
        if "set" in x:
            return "{" + ",".join(map(str, x["set"])) + "}"
    if isinstance(x, list):
        return ",".join(map(str, x))
    return str(x)


def _text(expr):
    out = []
    for e in expr:
        if "match" in e:
            m = e["match"]
            op = " != " if m["op"] == "!=" else " "
            out.append(f"{_side(m['left'])}{op}{_side(m['right'])}")
        elif "dnat" in e:
            d = e["dnat"]
            out.append(f"dnat {d['family']} {d['addr']}:{d['port']}")
        else:
            out.append(next(iter(e)))
    return " ".join(out)


def _rules(cmds, family="inet", table=None):
    """[(chain, text)] of the rules added, in order."""
    return [
        (r["chain"], _text(r["expr"]))
        for c in cmds
        if "rule" in c.get("add", {})
        for r in [c["add"]["rule"]]
        if r["family"] == family and (table is None or r["table"] == table)
    ]


def _chain_rules(cmds, chain, family="inet"):
    return [t for c, t in _rules(cmds, family) if c == chain]


def _pm(ip="172.18.0.2", hport=8080, cport=80, bridge="br-a", host_ip="", proto="tcp"):
    return PortMapping(proto, host_ip, hport, ip, cport, bridge)


A = nat.BridgeRules("br-a", V4("172.18.0.0/16"))
B = nat.BridgeRules("br-b", V4("172.19.0.0/16"))


def test_ruleset_recreates_only_our_table():
    cmds = nat.ruleset("dockyard", [A], [])
    assert [next(iter(c)) for c in cmds[:3]] == ["add", "delete", "add"]
    tables = {json.dumps(c[v]["table"]) for c in cmds for v in c if "table" in c[v]}
    assert tables == {json.dumps({"family": "inet", "name": "dockyard"})}
    chains = {c["add"]["chain"]["name"]: c["add"]["chain"] for c in cmds
              if "chain" in c.get("add", {})}
    assert {n: (c["type"], c["hook"], c["prio"]) for n, c in chains.items()} == {
        "prerouting": ("nat", "prerouting", -100),
        "output": ("nat", "output", -100),
        "postrouting": ("nat", "postrouting", 100),
        "input": ("filter", "input", 0),
        "forward": ("filter", "forward", 0),
    }
    assert all(c["policy"] == "accept" for c in chains.values())  # never rely on a policy
    assert nat.ruleset("dockyard", [A], []) == cmds  # pure, deterministic


def test_masquerade_v4_and_v6():
    net = nat.BridgeRules("br-a", V4("172.18.0.0/16"), ipaddress.IPv6Network("fd00:1::/64"))
    post = _chain_rules(nat.ruleset("t", [net]), "postrouting")
    assert "ip saddr 172.18.0.0/16 oifname != br-a masquerade" in post
    assert "ip6 saddr fd00:1::/64 oifname != br-a masquerade" in post
    # hairpin (container -> host:PORT -> container on the same bridge) and host -> 127.0.0.1
    assert "oifname br-a ip saddr 172.18.0.0/16 ct status dnat masquerade" in post
    assert "oifname br-a ip6 saddr fd00:1::/64 ct status dnat masquerade" in post
    assert "oifname br-a ip saddr 127.0.0.0/8 masquerade" in post
    no_masq = nat.BridgeRules("br-a", V4("172.18.0.0/16"), masquerade=False)
    post = _chain_rules(nat.ruleset("t", [no_masq]), "postrouting")
    assert not any("oifname != br-a" in r for r in post)


def test_localnet_guard_in_input():
    assert _chain_rules(nat.ruleset("t", [A]), "input") == [
        "iifname br-a ip daddr 127.0.0.0/8 ct state {new,invalid,untracked} drop"
    ]


def test_forward_order_isolation_and_defaults():
    fwd = _chain_rules(nat.ruleset("t", [A, B]), "forward")
    assert fwd == [
        "oifname br-a ct status dnat accept",
        "oifname br-b ct status dnat accept",
        "iifname br-a oifname {br-b} drop",
        "iifname br-b oifname {br-a} drop",
        "iifname br-a oifname br-a accept",
        "iifname br-b oifname br-b accept",
        "iifname br-a accept",
        "iifname br-b accept",
        "oifname br-a ct state established,related accept",
        "oifname br-b ct state established,related accept",
        "oifname br-a drop",
        "oifname br-b drop",
    ]


def test_internal_network_is_closed_and_unpublished():
    internal = nat.BridgeRules("br-i", V4("10.9.0.0/24"), masquerade=False, internal=True)
    cmds = nat.ruleset("t", [A, internal], [_pm(ip="10.9.0.2", bridge="br-i")])
    fwd = _chain_rules(cmds, "forward")
    assert fwd[:2] == ["iifname br-i oifname != br-i drop", "oifname br-i iifname != br-i drop"]
    assert "iifname br-i accept" not in fwd  # nothing outbound
    assert "oifname br-i ct status dnat accept" not in fwd
    assert not any("br-i" in r for c, r in _rules(cmds) if c in ("postrouting", "input"))
    assert _chain_rules(cmds, "prerouting") == [] == _chain_rules(cmds, "output")


def test_published_ports_dnat_in_prerouting_and_output():
    ports = [
        _pm(),
        _pm(host_ip="127.0.0.1", hport=9090),
        _pm(proto="udp", hport=5353, cport=53),
        _pm(ip="fd00:1::2", host_ip="::", hport=8443, cport=443),
        _pm(bridge="br-gone"),  # a bridge not in the set: ignored
    ]
    cmds = nat.ruleset("t", [A], ports)
    expected = [
        "nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip 172.18.0.2:80",
        "ip daddr 127.0.0.1 tcp dport 9090 dnat ip 172.18.0.2:80",
        "nfproto ipv4 fib daddr type local udp dport 5353 dnat ip 172.18.0.2:53",
        "nfproto ipv6 fib daddr type local tcp dport 8443 dnat ip6 fd00:1::2:443",
    ]
    assert _chain_rules(cmds, "prerouting") == expected
    assert _chain_rules(cmds, "output") == expected


def test_dnat_refuses_mixed_families():
    for bad in (_pm(host_ip="::"), _pm(host_ip="::1"), _pm(ip="fd00::2", host_ip="0.0.0.0")):
        with pytest.raises(ValueError, match="address families differ"):
            nat.ruleset("t", [A], [bad])


def test_icc_false_uses_our_bridge_table():
    strict = nat.BridgeRules("br-c", V4("10.7.0.0/24"), icc=False)
    cmds = nat.ruleset("t", [A, strict], [_pm(ip="10.7.0.2", bridge="br-c")])
    assert {"add": {"table": {"family": "bridge", "name": "t"}}} in cmds
    [chain] = [c["add"]["chain"] for c in cmds if "chain" in c.get("add", {})
               if c["add"]["chain"]["family"] == "bridge"]
    assert (chain["type"], chain["hook"], chain["policy"]) == ("filter", "forward", "accept")
    assert _chain_rules(cmds, "forward", "bridge") == [
        "ip daddr 10.7.0.2 tcp dport 80 accept",
        "ip saddr 10.7.0.2 tcp sport 80 accept",
        "ip saddr 10.7.0.0/24 ip daddr 10.7.0.0/24 drop",
    ]
    fwd = _chain_rules(cmds, "forward")  # the same under br_netfilter, in the inet table
    i = fwd.index("iifname br-c oifname br-c drop")
    assert fwd[i - 2 : i] == [
        "iifname br-c oifname br-c ip daddr 10.7.0.2 tcp dport 80 accept",
        "iifname br-c oifname br-c ct state established,related accept",
    ]
    assert "iifname br-a oifname br-a accept" in fwd
    assert not any(c["add"].get("table", {}).get("family") == "bridge"
                   for c in nat.ruleset("t", [A], []) if "add" in c)


def test_transaction_replaces_stale_bridge_table_and_foreign_rules():
    drop = nat.ForeignChain("ip", "filter", "FORWARD", "drop", (7, 9))
    accept = nat.ForeignChain("ip6", "filter", "FORWARD", "accept", (3,))
    payload = nat.transaction("t", [A], [], foreign=[drop, accept], bridge_table_exists=True)
    cmds = payload["nftables"][1:]
    assert cmds[0] == {"delete": {"table": {"family": "bridge", "name": "t"}}}
    deletes = [c["delete"]["rule"] for c in cmds if "rule" in c.get("delete", {})]
    assert [(d["family"], d["handle"]) for d in deletes] == [("ip", 7), ("ip", 9), ("ip6", 3)]
    added = [c["add"]["rule"] for c in cmds if "rule" in c.get("add", {})
             if c["add"]["rule"]["table"] == "filter"]
    assert [(r["family"], r["chain"], _text(r["expr"]), r["comment"]) for r in added] == [
        ("ip", "FORWARD", "iifname br-a accept", "dockyard:t"),
        ("ip", "FORWARD", "oifname br-a accept", "dockyard:t"),
    ]  # only into the chain whose policy is drop, appended (add, not insert)


def test_parse_foreign_finds_exactly_our_rules():
    listing = [
        {"metainfo": {}},
        {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 1,
                   "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
        {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 4,
                  "expr": [], "comment": "dockyard:t"}},
        {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 5,
                  "expr": [], "comment": "dockyard:t2"}},
        {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 6,
                  "expr": []}},
    ]
    assert nat.parse_foreign(listing, "t") == nat.ForeignChain(
        "ip", "filter", "FORWARD", "drop", (4,))
    assert nat.parse_foreign([{"metainfo": {}}], "t") is None


def test_removal_only_what_exists():
    fc = nat.ForeignChain("ip", "filter", "FORWARD", "drop", (4,))
    cmds = nat.removal("t", inet=True, bridge=False, foreign=[fc])["nftables"]
    assert cmds == [
        {"delete": {"table": {"family": "inet", "name": "t"}}},
        {"delete": {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD",
                             "handle": 4}}},
    ]
    assert nat.removal("t", inet=False)["nftables"] == []


class FakeNft(nat.Nft):
    """Answers like nft would for a host with an iptables-nft FORWARD drop chain."""

    def __init__(self, refuse: str | None = None) -> None:
        super().__init__("/bin/nft-fake")
        self.calls: list[tuple[tuple[str, ...], dict | None]] = []
        self.refuse = refuse

    def _exec(self, args, payload):
        self.calls.append((tuple(args), payload))
        if args == ["list", "tables"]:
            tables = [{"table": {"family": "ip", "name": "filter"}},
                      {"table": {"family": "inet", "name": "t"}}]
            return 0, json.dumps({"nftables": tables}), ""
        if args[:2] == ["-a", "list"]:
            chain = {"family": "ip", "table": "filter", "name": "FORWARD", "policy": "drop"}
            rule = {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 12,
                    "comment": "dockyard:t", "expr": []}
            return 0, json.dumps({"nftables": [{"chain": chain}, {"rule": rule}]}), ""
        if self.refuse and self.refuse in json.dumps(payload):
            return 1, "", "Error: Could not process rule: No such file or directory"
        return 0, "", ""


def test_apply_reads_state_then_writes_one_transaction(monkeypatch):
    monkeypatch.setattr(nat, "set_bridge_sysctl", lambda *a, **k: True)
    fake = FakeNft()
    fake.apply("t", [A], [_pm()])
    writes = [p for a, p in fake.calls if a == ("-f", "-")]
    assert len(writes) == 1
    text = json.dumps(writes[0])
    assert '"handle": 12' in text and '"dnat"' in text and "dockyard:t" in text


def test_delete_removes_table_and_foreign_rules():
    fake = FakeNft()
    fake.delete("t")
    [payload] = [p for a, p in fake.calls if a == ("-f", "-")]
    assert payload["nftables"] == nat.removal(
        "t", inet=True, foreign=[nat.ForeignChain("ip", "filter", "FORWARD", "drop", (12,))]
    )["nftables"]


def test_refusal_names_what_the_kernel_lacks(monkeypatch):
    monkeypatch.setattr(nat, "set_bridge_sysctl", lambda *a, **k: True)
    fake = FakeNft(refuse='"type": "nat"')  # a kernel without nf_nat refuses every nat chain
    with pytest.raises(nat.NatError) as info:
        fake.apply("t", [A], [])
    msg = str(info.value)
    assert "kernel lacks" in msg and "nf_nat" in msg and "masquerade" in msg
    assert "fib" not in msg and "conntrack" not in msg
    ok = FakeNft(refuse="never-matches")
    assert ok.missing_features("t", bridge_family=True) == []


def test_missing_nft_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(nat.shutil, "which", lambda *a, **k: None)
    with pytest.raises(nat.NatError, match="install the nftables package"):
        nat.Nft().apply("dy-never", [], [])


def test_set_bridge_sysctl(tmp_path, monkeypatch):
    monkeypatch.setattr(nat, "SYSCTL", tmp_path)
    conf = tmp_path / "ipv4" / "conf" / "br-a"
    conf.mkdir(parents=True)
    (conf / "route_localnet").write_text("0\n")
    assert nat.set_bridge_sysctl("br-a", "route_localnet", 1)
    assert (conf / "route_localnet").read_text() == "1\n"
    assert not nat.set_bridge_sysctl("br-missing", "route_localnet", 1)

def test_parse_mode():
    assert parse_mode(None) == ("bridge", None)
    assert parse_mode("default") == ("bridge", None)
    assert parse_mode("host") == ("host", None)
    assert parse_mode("none") == ("none", None)
    assert parse_mode("container:abc") == ("container", "abc")
    assert parse_mode("mynet") == ("network", "mynet")
    with pytest.raises(NetworkError):
        parse_mode("container:")


def test_json_file_store_is_atomic_and_private(scratch):
    store = JSONFileStore(scratch / "sub" / "s.json")
    assert store.load() == {}
    store.save({"a": 1})
    store.save({"a": 2})
    assert store.load() == {"a": 2}
    assert [p.name for p in (scratch / "sub").iterdir()] == ["s.json"]
    assert stat.S_ISREG((scratch / "sub" / "s.json").stat().st_mode)
    mem = MemoryStore({"x": [1]})
    got = mem.load()
    got["x"].append(2)
    assert mem.load() == {"x": [1]}
