"""Network options end to end on a real daemon (root): IPv6, --internal, icc=false.

Each test runs its own dockyardd (container_daemon: private bridge, nft table, cgroup parent
and default address pool); its finalizer fails the test when anything is left. Traffic goes
only to the test's own containers and to the gateway of a network the test made.
"""

from __future__ import annotations

import secrets

import pytest
from test_api_containers_support import container_daemon, usable

pytestmark = pytest.mark.root

if (_why := usable()) is not None:
    pytest.skip(_why, allow_module_level=True)


def _name() -> str:
    return f"dyp-{secrets.token_hex(3)}"


def _net(h, name: str, **body) -> dict:
    h.json("POST", "/v1.44/networks/create", {"Name": name, **body}, 201)
    return h.json("GET", f"/v1.44/networks/{name}", status=200)


def _sleeper(h, net: str) -> str:
    cid = h.create(["sleep", "300"], HostConfig={"NetworkMode": net})
    h.start(cid)
    return cid


def _exit_code(h, net: str, cmd: list[str]) -> int:
    cid = h.create(cmd, HostConfig={"NetworkMode": net})
    h.start(cid)
    code = h.wait(cid)["StatusCode"]
    h.json("DELETE", f"/v1.44/containers/{cid}?force=1", status=204)
    return code


def _cleanup(h, cids: list[str], nets: list[str]) -> None:
    for cid in cids:
        h.json("DELETE", f"/v1.44/containers/{cid}?force=1", status=204)
    for net in nets:
        h.json("DELETE", f"/v1.44/networks/{net}", status=204)


def test_ipv6_network_gives_v6_addresses_that_reach_each_other():
    with container_daemon() as h:
        net = _name()
        v6 = f"fd{secrets.token_hex(1)}:{secrets.token_hex(2)}:{secrets.token_hex(2)}::/64"
        info = _net(h, net, EnableIPv6=True, IPAM={"Config": [{"Subnet": v6}]})
        assert info["EnableIPv6"] is True
        assert v6 in [c.get("Subnet") for c in info["IPAM"]["Config"]]
        server = _sleeper(h, net)
        settings = h.inspect(server)["NetworkSettings"]["Networks"][net]
        address = settings["GlobalIPv6Address"]
        assert address.startswith(v6.split("::")[0] + ":"), settings
        assert settings["GlobalIPv6PrefixLen"] == 64
        assert settings["IPAddress"], "a v4 address too, from the default pools"
        assert _exit_code(h, net, ["ping6", "-c1", "-W2", address]) == 0
        _cleanup(h, [server], [net])


def test_internal_network_does_not_leave_its_bridge():
    with container_daemon() as h:
        outside, inside = _name(), _name()
        gateway = _net(h, outside)["IPAM"]["Config"][0]["Gateway"]
        _net(h, inside, Internal=True)
        # control: from a normal network the host answers on another network's gateway
        assert _exit_code(h, outside, ["ping", "-c1", "-W2", gateway]) == 0
        # an internal network has no route out at all, and its neighbours still talk
        assert _exit_code(h, inside, ["ping", "-c1", "-W2", gateway]) != 0
        peer = _sleeper(h, inside)
        ip = h.inspect(peer)["NetworkSettings"]["Networks"][inside]["IPAddress"]
        assert _exit_code(h, inside, ["ping", "-c1", "-W2", ip]) == 0
        _cleanup(h, [peer], [outside, inside])


def test_icc_disabled_blocks_neighbours_but_not_published_ports():
    with container_daemon() as h:
        net = _name()
        _net(h, net, Options={"com.docker.network.bridge.enable_icc": "false"})
        web = h.create(["sh", "-c", "mkdir -p /www && echo icc-ok > /www/index.html && "
                                    "exec httpd -f -p 80 -h /www"],
                       HostConfig={"NetworkMode": net,
                                   "PortBindings": {"80/tcp": [{"HostPort": ""}]}},
                       ExposedPorts={"80/tcp": {}})
        h.start(web)
        settings = h.inspect(web)["NetworkSettings"]
        ip = settings["Networks"][net]["IPAddress"]
        gateway = settings["Networks"][net]["Gateway"]
        host_port = settings["Ports"]["80/tcp"][0]["HostPort"]
        assert _exit_code(h, net, ["ping", "-c1", "-W2", ip]) != 0
        fetch = ("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {} {} "
                 "| grep -q icc-ok")
        assert _exit_code(h, net, ["sh", "-c", fetch.format(ip, 80)]) == 0, \
            "a published container port stays reachable from its neighbours, as in Docker"
        assert _exit_code(h, net, ["sh", "-c", fetch.format(gateway, host_port)]) == 0
        _cleanup(h, [web], [net])
