"""Pure parts of the bridge driver: names, MACs, nftables JSON, --network parsing, stores."""

import ipaddress
import json
import stat

import pytest

from dockyard.network import bridge as br
from dockyard.network import nat
from dockyard.network.manager import Attachment, NetworkError, parse_mode
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


def _cmds(payload, kind):
    return [c["add"][kind] for c in payload["nftables"] if kind in c.get("add", {})]


def test_ruleset_recreates_only_our_table():
    net = nat.BridgeRules("dockyard0", ipaddress.IPv4Network("172.17.0.0/16"))
    payload = nat.ruleset([net], "dockyard")
    verbs = [next(iter(c)) for c in payload["nftables"][1:4]]
    assert verbs == ["add", "delete", "add"]
    tables = {
        json.dumps(c[v]["table"]) for c in payload["nftables"][1:] for v in c if "table" in c[v]
    }
    assert tables == {json.dumps({"family": "inet", "name": "dockyard"})}
    for rule in _cmds(payload, "rule") + _cmds(payload, "chain"):
        assert (rule["family"], rule["table"]) == ("inet", "dockyard")
    chains = {c["name"]: c for c in _cmds(payload, "chain")}
    assert chains["postrouting"]["type"] == "nat" and chains["postrouting"]["prio"] == 100
    assert chains["forward"]["hook"] == "forward"


def test_masquerade_rule():
    net = nat.BridgeRules("dockyard0", ipaddress.IPv4Network("172.17.0.0/16"))
    [masq] = [r for r in _cmds(nat.ruleset([net]), "rule") if r["chain"] == "postrouting"]
    assert masq["expr"] == [
        {
            "match": {
                "op": "==",
                "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                "right": {"prefix": {"addr": "172.17.0.0", "len": 16}},
            }
        },
        {"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "dockyard0"}},
        {"masquerade": None},
    ]


def test_forward_rules_accept_outbound_and_replies_drop_the_rest():
    net = nat.BridgeRules("br-x", ipaddress.IPv4Network("10.3.0.0/24"), masquerade=False)
    rules = _cmds(nat.ruleset([net]), "rule")
    assert all(r["chain"] == "forward" for r in rules)  # internal: no masquerade
    verdicts = [next(iter(r["expr"][-1])) for r in rules]
    assert verdicts == ["accept", "accept", "drop"]
    assert rules[0]["expr"][0]["match"]["left"] == {"meta": {"key": "iifname"}}
    assert rules[1]["expr"][1]["match"]["right"] == ["established", "related"]


def test_delete_table_is_noop_safe():
    payload = nat.delete_table("t")
    assert [next(iter(c)) for c in payload["nftables"]] == ["add", "delete"]


def test_missing_nft_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(nat.shutil, "which", lambda *a, **k: None)
    with pytest.raises(nat.NatError, match="install the nftables package"):
        nat.Nft().sync([], "dy-never")


def test_parse_mode():
    assert parse_mode(None) == ("bridge", None)
    assert parse_mode("default") == ("bridge", None)
    assert parse_mode("host") == ("host", None)
    assert parse_mode("none") == ("none", None)
    assert parse_mode("container:abc") == ("container", "abc")
    for bad in ("container:", "mynet"):
        with pytest.raises(NetworkError):
            parse_mode(bad)


def test_network_settings_shape():
    att = Attachment(
        "c",
        "bridge",
        netns_path="/run/x",
        ip="172.17.0.2",
        prefixlen=16,
        gateway="172.17.0.1",
        mac="02:42:ac:11:00:02",
        endpoint_id="e",
        network_id="n",
        sandbox_id="s",
    )
    ns = att.network_settings()
    assert ns["IPAddress"] == "172.17.0.2" and ns["SandboxKey"] == "/run/x"
    assert ns["Networks"]["bridge"]["Gateway"] == "172.17.0.1"
    assert ns["Networks"]["bridge"]["NetworkID"] == "n"
    assert ns["Ports"] == {}
    host = Attachment("c", "host").network_settings()
    assert host["SandboxKey"] == "" and set(host["Networks"]) == {"host"}
    shared = Attachment("c", "container", target="x").network_settings()
    assert shared["Networks"] == {}


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
