"""User-defined networks through the Engine API on a real daemon (root): reachability inside a
network, isolation between networks, live connect/disconnect, bad input, restart.

Each test runs its own dockyardd (container_daemon: own bridge, nft table, cgroup parent and a
private --default-address-pool 10.x.0.0/16 size 24); its finalizer fails the test when any
container, bridge, veth, netns or nft table is left. Traffic goes only to containers of the
test.
"""

from __future__ import annotations

import secrets

import pytest
from test_api_containers_support import container_daemon, usable

pytestmark = pytest.mark.root

if (_why := usable()) is not None:
    pytest.skip(_why, allow_module_level=True)


def _net(h, name: str, **body) -> str:
    return h.json("POST", "/v1.44/networks/create", {"Name": name, **body}, 201)["Id"]


def _rm_net(h, ref: str) -> None:
    h.json("DELETE", f"/v1.44/networks/{ref}", status=204)


def _ip(h, cid: str, net: str) -> str:
    return h.inspect(cid)["NetworkSettings"]["Networks"][net]["IPAddress"]


def _sleeper(h, net: str, **config) -> str:
    cid = h.create(["sleep", "300"], HostConfig={"NetworkMode": net}, **config)
    h.start(cid)
    return cid


def _exit_code(h, net: str, cmd: list[str]) -> int:
    cid = h.create(cmd, HostConfig={"NetworkMode": net})
    h.start(cid)
    code = h.wait(cid)["StatusCode"]
    h.json("DELETE", f"/v1.44/containers/{cid}?force=1", status=204)
    return code


def _ping(ip: str) -> list[str]:
    return ["ping", "-c1", "-W2", ip]


def _name() -> str:
    return f"dyn-{secrets.token_hex(3)}"


def _veths(h) -> list[str]:
    from dockyard.network import bridge as br

    return [n for n, kind in br.links_with_alias(f"dockyard:{h.table}") if kind == "veth"]


def _kill(h, *cids: str) -> None:
    for cid in cids:
        h.json("DELETE", f"/v1.44/containers/{cid}?force=1", status=204)


def test_same_network_reaches_other_network_does_not():
    with container_daemon() as h:
        n1, n2 = _name(), _name()
        _net(h, n1)
        _net(h, n2)
        a = _sleeper(h, n1)
        ip = _ip(h, a, n1)
        assert ip.startswith("10.")
        info = h.json("GET", f"/v1.44/networks/{n1}", status=200)
        assert info["Containers"][a]["IPv4Address"] == f"{ip}/24"
        assert _exit_code(h, n1, _ping(ip)) == 0
        assert _exit_code(h, n2, _ping(ip)) != 0
        _kill(h, a)
        _rm_net(h, n1)
        _rm_net(h, n2)


def test_live_connect_and_disconnect():
    with container_daemon() as h:
        n1, n2 = _name(), _name()
        _net(h, n1)
        _net(h, n2)
        a = _sleeper(h, n1)
        h.json("POST", f"/v1.44/networks/{n2}/connect", {"Container": a}, 200)
        ip2 = _ip(h, a, n2)
        assert ip2 and ip2 != _ip(h, a, n1)
        assert _exit_code(h, n2, _ping(ip2)) == 0
        r = h.request("DELETE", f"/v1.44/networks/{n2}")
        assert r.status == 403 and b"has active endpoints" in r.body
        assert len(_veths(h)) == 2
        h.json("POST", f"/v1.44/networks/{n2}/disconnect", {"Container": a}, 200)
        assert set(h.inspect(a)["NetworkSettings"]["Networks"]) == {n1}
        assert h.json("GET", f"/v1.44/networks/{n2}", status=200)["Containers"] == {}
        assert len(_veths(h)) == 1
        _kill(h, a)
        _rm_net(h, n1)
        _rm_net(h, n2)


def test_subnet_and_ip_errors():
    with container_daemon() as h:
        base = h.json("GET", f"/v1.44/networks/{h.token and 'bridge'}", status=200)
        n1 = _name()
        _net(h, n1, IPAM={"Config": [{"Subnet": "10.251.7.0/24", "Gateway": "10.251.7.1"}]})
        r = h.request("POST", "/v1.44/networks/create",
                      b'{"Name": "%s", "IPAM": {"Config": [{"Subnet": "10.251.7.128/25"}]}}'
                      % _name().encode(), {"Content-Type": "application/json"})
        assert r.status == 403 and b"Pool overlaps" in r.body, r.body
        r = h.request("POST", "/v1.44/networks/create",
                      b'{"Name": "%s"}' % n1.encode(), {"Content-Type": "application/json"})
        assert r.status == 409
        # --ip outside the subnet, --ip on the default bridge
        body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": n1},
                "NetworkingConfig": {"EndpointsConfig": {
                    n1: {"IPAMConfig": {"IPv4Address": "10.9.9.9"}}}}}
        h.json("POST", "/v1.44/containers/create", body, 400)
        body["NetworkingConfig"]["EndpointsConfig"][n1]["IPAMConfig"]["IPv4Address"] = \
            "10.251.7.50"
        c = h.json("POST", "/v1.44/containers/create", body, 201)["Id"]
        h.start(c)
        assert _ip(h, c, n1) == "10.251.7.50"
        h.wait(c)
        body2 = {"Image": "busybox", "Cmd": ["sleep", "30"],
                 "HostConfig": {"NetworkMode": "bridge"},
                 "NetworkingConfig": {"EndpointsConfig": {
                     "bridge": {"IPAMConfig": {"IPv4Address": "10.9.9.9"}}}}}
        h.json("POST", "/v1.44/containers/create", body2, 400)
        h.json("POST", "/v1.44/containers/create?name=" + _name(),
               {**body2, "NetworkingConfig": {"EndpointsConfig": {
                   "bridge": {"Aliases": ["x"]}}}}, 400)
        # a missing network: create succeeds and start fails, as with dockerd
        nope = h.json("POST", "/v1.44/containers/create",
                      {**body2, "HostConfig": {"NetworkMode": "nope-" + _name()}}, 201)["Id"]
        r = h.request("POST", f"/v1.44/containers/{nope}/start")
        assert r.status == 404 and b"not found" in r.body, r.body
        assert base["Name"] == "bridge"
        _kill(h, c, nope)
        _rm_net(h, n1)
        r = h.request("DELETE", "/v1.44/networks/bridge")
        assert r.status == 403


def test_restart_keeps_networks_and_allocations():
    with container_daemon() as h:
        n1 = _name()
        nid = _net(h, n1)
        a = _sleeper(h, n1)
        ip = _ip(h, a, n1)
        h.restart()
        info = h.json("GET", f"/v1.44/networks/{n1}", status=200)
        assert info["Id"] == nid and info["Containers"][a]["IPv4Address"] == f"{ip}/24"
        assert _ip(h, a, n1) == ip
        b = _sleeper(h, n1)
        assert _ip(h, b, n1) not in ("", ip)
        assert _exit_code(h, n1, _ping(ip)) == 0
        _kill(h, a, b)
        _rm_net(h, n1)


def test_legacy_link_on_default_bridge_writes_hosts():
    with container_daemon() as h:
        web = _sleeper(h, "bridge")
        web_name = h.inspect(web)["Name"].lstrip("/")
        web_ip = _ip(h, web, "bridge")
        cid = h.create(["sh", "-c", "grep -w db /etc/hosts && ping -c1 -W2 db"],
                       HostConfig={"NetworkMode": "bridge", "Links": [f"{web_name}:db"]})
        h.start(cid)
        assert h.wait(cid)["StatusCode"] == 0
        logs = h.request("GET", f"/v1.44/containers/{cid}/logs?stdout=1").body
        assert f"{web_ip}\tdb {web[:12]} {web_name}".encode() in logs
        _kill(h, cid, web)


def test_dns_follows_rename():
    with container_daemon() as h:
        net, old, new = _name(), _name(), _name()
        _net(h, net)
        target = h.create(["sleep", "300"], name=old, HostConfig={"NetworkMode": net})
        h.start(target)
        h.json("POST", f"/v1.44/containers/{target}/rename?name={new}", status=204)
        assert _exit_code(h, net, ["nslookup", new, "127.0.0.11"]) == 0
        assert _exit_code(h, net, ["nslookup", old, "127.0.0.11"]) != 0
        _kill(h, target)
        _rm_net(h, net)
