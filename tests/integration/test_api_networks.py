"""The ``/networks`` endpoints of dockyardd over its unix socket (raw HTTP): list with
filters, inspect (by name, ID, ID prefix; verbose, scope), create (body checks, duplicate,
pre-defined names, unknown drivers), delete, connect/disconnect of created and running
containers, prune with filters, events; and the container side: create with
NetworkingConfig/PortBindings as the docker CLI sends them, NetworkSettings.Networks and
Ports in ``GET /containers/json``, a published port served to the host.

Hermetic: one container_daemon (own bridge, nft table, cgroup parent, address pool) for
the module; every test removes the networks it made (``nets`` fixture), and the daemon's
finalizer fails on any leftover container, bridge, veth, netns or nft table."""

from __future__ import annotations

import json
import secrets
import socket
import time
import urllib.parse

import pytest
from test_api_containers_support import container_daemon, usable

pytestmark = pytest.mark.root

if (_why := usable()) is not None:
    pytest.skip(_why, allow_module_level=True)

ZERO_ENDPOINT = {
    "IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
    "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
    "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
    "DNSNames": None}


@pytest.fixture(scope="module")
def daemon():
    with container_daemon() as d:
        yield d


class Nets:
    """Names for this test's networks; everything made is removed at the end (containers
    first: a network with endpoints cannot go)."""

    def __init__(self, d) -> None:
        self.d = d
        self.token = secrets.token_hex(3)
        self.containers: list[str] = []

    def name(self, base: str) -> str:
        return f"dyt{self.token}-{base}"

    def create(self, base: str, status: int = 201, **body) -> dict:
        r = req(self.d, "POST", "/v1.44/networks/create", {"Name": self.name(base), **body})
        assert r.status == status, (r.status, r.body)
        return r.json()

    def container(self, cmd: list[str], name: str | None = None, start: bool = False,
                  **config) -> str:
        cid = self.d.create(cmd, name=name, **config)
        self.containers.append(cid)
        if start:
            self.d.start(cid)
        return cid

    def cleanup(self) -> None:
        for cid in self.containers:
            self.d.request("DELETE", f"/v1.44/containers/{cid}?force=1", timeout=60)
        for net in req(self.d, "GET", "/v1.44/networks").json():
            if net["Name"].startswith(f"dyt{self.token}-"):
                r = self.d.request("DELETE", f"/v1.44/networks/{net['Id']}")
                assert r.status == 204, (net["Name"], r.status, r.body)


@pytest.fixture
def nets(daemon):
    n = Nets(daemon)
    try:
        yield n
    finally:
        n.cleanup()


def req(d, method: str, path: str, body=None, raw: bytes | None = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                        else None)
    return d.request(method, path, data, {"Content-Type": "application/json"})


def filters(**values) -> str:
    return urllib.parse.quote(json.dumps(values))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- list, inspect ---------------------------------------------------------------------


def test_predefined_networks_listed_and_inspected(daemon):
    listing = req(daemon, "GET", "/v1.44/networks").json()
    by_name = {n["Name"]: n for n in listing}
    assert {"bridge", "host", "none"} <= set(by_name)
    assert by_name["bridge"]["Driver"] == "bridge"
    assert by_name["host"]["Driver"] == "host"
    assert by_name["none"]["Driver"] == "null"
    for n in by_name.values():
        assert n["Scope"] == "local" and len(n["Id"]) == 64
    bridge = req(daemon, "GET", "/v1.44/networks/bridge").json()
    assert bridge["Id"] == by_name["bridge"]["Id"]
    assert bridge["IPAM"]["Config"][0]["Subnet"] == daemon.subnet
    assert bridge["Options"]["com.docker.network.bridge.name"] == daemon.bridge
    # the unversioned path and an old API version answer the same
    assert req(daemon, "GET", "/networks/bridge").json()["Id"] == bridge["Id"]
    assert req(daemon, "GET", "/v1.24/networks/bridge").json()["Id"] == bridge["Id"]


def test_inspect_by_name_id_prefix_and_params(daemon, nets):
    nid = nets.create("a", Labels={"k": "v"})["Id"]
    name = nets.name("a")
    for ref in (name, nid, nid[:12]):
        got = req(daemon, "GET", f"/v1.44/networks/{ref}").json()
        assert (got["Id"], got["Name"], got["Labels"]) == (nid, name, {"k": "v"})
    assert req(daemon, "GET", f"/v1.44/networks/{name}?verbose=true").status == 200
    assert req(daemon, "GET", f"/v1.44/networks/{name}?scope=local").status == 200
    r = req(daemon, "GET", f"/v1.44/networks/{name}?scope=swarm")
    assert (r.status, r.json()) == (404, {"message": f"network {name} not found"})
    r = req(daemon, "GET", f"/v1.44/networks/{name}?verbose=maybe")
    assert r.status == 400 and "invalid value for verbose: maybe" in r.json()["message"]
    r = req(daemon, "GET", "/v1.44/networks/dyt-nosuch")
    assert (r.status, r.json()) == (404, {"message": "network dyt-nosuch not found"})


def test_list_filters(daemon, nets):
    a = nets.create("fa", Labels={"tier": "front"})["Id"]
    b = nets.create("fb", Internal=True)["Id"]

    def names(**f) -> set[str]:
        r = req(daemon, "GET", f"/v1.44/networks?filters={filters(**f)}")
        assert r.status == 200, r.body
        return {n["Name"] for n in r.json()}

    assert names(name=[nets.name("f")]) == {nets.name("fa"), nets.name("fb")}
    assert names(id=[a]) == {nets.name("fa")}
    assert names(label=["tier=front"]) >= {nets.name("fa")}
    assert nets.name("fb") not in names(label=["tier"])
    assert {"bridge", "host", "none"} <= names(type=["builtin"])
    custom = names(type=["custom"])
    assert {nets.name("fa"), nets.name("fb")} <= custom and "bridge" not in custom
    assert nets.name("fa") in names(driver=["bridge"]) and "host" not in names(
        driver=["bridge"])
    assert nets.name("fa") in names(dangling=["true"])
    # the CLI's form of filters: {"name": {"x": true}}
    r = req(daemon, "GET", "/v1.44/networks?filters=" + urllib.parse.quote(json.dumps(
        {"name": {nets.name("fb"): True}})))
    assert [n["Id"] for n in r.json()] == [b]
    r = req(daemon, "GET", f"/v1.44/networks?filters={filters(color=['red'])}")
    assert (r.status, r.json()) == (400, {"message": "invalid filter 'color'"})


# --- create ------------------------------------------------------------------------------


def test_create_returns_id_and_inspect_matches_request(daemon, nets):
    got = nets.create("c", Driver="bridge", Internal=True, Attachable=True,
                      IPAM={"Driver": "default", "Config": [
                          {"Subnet": "10.250.7.0/24", "IPRange": "10.250.7.128/25",
                           "Gateway": "10.250.7.1"}], "Options": {}},
                      Options={"com.docker.network.bridge.name": f"dyb{nets.token}"},
                      Labels={"a": "b"}, CheckDuplicate=True)
    assert set(got) == {"Id", "Warning"} and len(got["Id"]) == 64
    n = req(daemon, "GET", f"/v1.44/networks/{got['Id']}").json()
    assert (n["Name"], n["Driver"], n["Scope"], n["Internal"], n["Attachable"]) == (
        nets.name("c"), "bridge", "local", True, True)
    assert n["IPAM"]["Config"] == [{"Subnet": "10.250.7.0/24",
                                    "IPRange": "10.250.7.128/25", "Gateway": "10.250.7.1"}]
    assert n["Labels"] == {"a": "b"} and n["Containers"] == {}
    assert n["Options"]["com.docker.network.bridge.name"] == f"dyb{nets.token}"
    with open(f"/sys/class/net/dyb{nets.token}/operstate"):
        pass  # the bridge exists on the host


def test_create_picks_a_pool_subnet(daemon, nets):
    nid = nets.create("auto")["Id"]
    config = req(daemon, "GET", f"/v1.44/networks/{nid}").json()["IPAM"]["Config"]
    assert len(config) == 1 and config[0]["Subnet"].endswith("/24")
    assert config[0]["Gateway"].startswith(config[0]["Subnet"].rsplit(".", 1)[0])


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"Name": "bridge"}, 403, "bridge is a pre-defined network and cannot be created"),
    ({"Name": "host"}, 403, "host is a pre-defined network and cannot be created"),
    ({"Name": "dyt-x", "Driver": "nosuchdriver"}, 404, 'plugin "nosuchdriver" not found'),
    ({"Name": "dyt-x", "Driver": "host"}, 403,
     'only one instance of "host" network is allowed'),
    ({"Name": ""}, 400, "invalid name: name is empty"),
    ({}, 400, "invalid name: name is empty"),
    ({"Name": 5}, 400, "json: cannot unmarshal number into Go struct field "
                       "CreateRequest.Name of type string"),
    ({"Name": "dyt-x", "Internal": "yes"}, 400, "json: cannot unmarshal string into Go "
                                                "struct field CreateRequest.Internal of "
                                                "type bool"),
    ({"Name": "dyt-x", "Labels": {"a": 1}}, 400, "json: cannot unmarshal number into Go "
                                                 "struct field CreateRequest.Labels of "
                                                 "type string"),
    ({"Name": "dyt-x", "IPAM": {"Config": "10.0.0.0/8"}}, 400,
     "json: cannot unmarshal string into Go struct field CreateRequest.IPAM.Config of type "
     "[]network.IPAMConfig"),
    ({"Name": "dyt-x", "IPAM": {"Driver": "other"}}, 404, 'plugin "other" not found'),
])
def test_create_bad_input(daemon, body, status, message):
    r = req(daemon, "POST", "/v1.44/networks/create", body)
    assert (r.status, r.json()) == (status, {"message": message})
    assert "dyt-x" not in {n["Name"] for n in req(daemon, "GET", "/v1.44/networks").json()}


def test_create_bad_json_and_duplicate(daemon, nets):
    for raw in (b"", b"{nope", b"[1]"):
        r = req(daemon, "POST", "/v1.44/networks/create", raw=raw)
        assert r.status == 400, (raw, r.body)
    nets.create("dup")
    r = req(daemon, "POST", "/v1.44/networks/create", {"Name": nets.name("dup")})
    assert (r.status, r.json()) == (409, {"message": f"network with name {nets.name('dup')} "
                                                     "already exists"})


def test_create_overlapping_subnet_is_rejected_and_nothing_is_left(daemon, nets):
    nets.create("o1", IPAM={"Config": [{"Subnet": "10.250.9.0/24"}]})
    before = set(_links())
    r = req(daemon, "POST", "/v1.44/networks/create", {
        "Name": nets.name("o2"), "IPAM": {"Config": [{"Subnet": "10.250.9.128/25"}]}})
    assert r.status in (400, 403, 409) and r.json()["message"], r.body
    assert set(_links()) == before
    assert req(daemon, "GET", f"/v1.44/networks/{nets.name('o2')}").status == 404


def _links() -> list[str]:
    import os

    return os.listdir("/sys/class/net")


# --- delete ------------------------------------------------------------------------------


def test_delete(daemon, nets):
    nid = nets.create("d")["Id"]
    assert daemon.request("DELETE", f"/v1.44/networks/{nid[:10]}").status == 204
    r = daemon.request("DELETE", f"/v1.44/networks/{nid}")
    assert (r.status, r.json()) == (404, {"message": f"network {nid} not found"})
    for name in ("bridge", "host", "none"):
        r = daemon.request("DELETE", f"/v1.44/networks/{name}")
        assert (r.status, r.json()) == (
            403, {"message": f"{name} is a pre-defined network and cannot be removed"})


# --- connect, disconnect -----------------------------------------------------------------


def test_connect_disconnect_created_container(daemon, nets):
    nid = nets.create("cd")["Id"]
    name = nets.name("cd")
    cid = nets.container(["true"], name=f"dyt{nets.token}-c1")
    r = req(daemon, "POST", f"/v1.44/networks/{name}/connect",
            {"Container": f"dyt{nets.token}-c1", "EndpointConfig": {"Aliases": ["web"]}})
    assert (r.status, r.body.strip()) == (200, b"")
    settings = daemon.inspect(cid)["NetworkSettings"]["Networks"]
    assert set(settings) == {"bridge", name}
    assert settings[name]["NetworkID"] == nid and settings[name]["Aliases"] == ["web"]
    r = req(daemon, "POST", f"/v1.44/networks/{name}/connect", {"Container": cid})
    assert r.status == 403 and "already exists in network" in r.json()["message"]
    r = req(daemon, "POST", f"/v1.44/networks/{name}/disconnect", {"Container": cid})
    assert r.status == 200
    assert set(daemon.inspect(cid)["NetworkSettings"]["Networks"]) == {"bridge"}
    r = req(daemon, "POST", f"/v1.44/networks/{name}/disconnect", {"Container": cid})
    assert r.status == 403, r.body


def test_connect_errors(daemon, nets):
    nets.create("ce")
    name = nets.name("ce")
    cid = nets.container(["true"])
    r = req(daemon, "POST", f"/v1.44/networks/{name}/connect", {"Container": "dyt-nobody"})
    assert (r.status, r.json()) == (404, {"message": "No such container: dyt-nobody"})
    r = req(daemon, "POST", "/v1.44/networks/dyt-nonet/connect", {"Container": cid})
    assert (r.status, r.json()) == (404, {"message": "network dyt-nonet not found"})
    r = req(daemon, "POST", f"/v1.44/networks/{name}/connect", {"Container": ""})
    assert r.status == 400
    r = req(daemon, "POST", f"/v1.44/networks/{name}/connect", {"Container": 7})
    assert r.status == 400
    r = req(daemon, "POST", f"/v1.44/networks/{name}/connect",
            {"Container": cid, "EndpointConfig": "x"})
    assert r.status == 400
    # addresses only on user-defined networks with a configured subnet
    r = req(daemon, "POST", "/v1.44/networks/bridge/connect",
            {"Container": cid, "EndpointConfig": {"Aliases": ["a"]}})
    assert r.status in (400, 403), r.body


def test_running_container_endpoints(daemon, nets):
    nid = nets.create("run", IPAM={"Config": [{"Subnet": "10.250.11.0/24"}]})["Id"]
    name = nets.name("run")
    cname = f"dyt{nets.token}-r1"
    cid = nets.container(["sleep", "300"], name=cname, start=True,
                         HostConfig={"NetworkMode": name},
                         NetworkingConfig={"EndpointsConfig": {name: {
                             **ZERO_ENDPOINT, "Aliases": ["api"],
                             "IPAMConfig": {"IPv4Address": "10.250.11.77"}}}})
    ep = daemon.inspect(cid)["NetworkSettings"]["Networks"][name]
    assert ep["IPAddress"] == "10.250.11.77" and ep["NetworkID"] == nid
    assert ep["Aliases"] == ["api"] and ep["Gateway"] == "10.250.11.1"
    members = req(daemon, "GET", f"/v1.44/networks/{nid}").json()["Containers"]
    assert members[cid]["Name"] == cname
    assert members[cid]["IPv4Address"] == "10.250.11.77/24"
    assert members[cid]["MacAddress"] and members[cid]["EndpointID"]
    # a network in use cannot be removed
    r = daemon.request("DELETE", f"/v1.44/networks/{name}")
    assert r.status == 403 and "active endpoints" in r.json()["message"]
    # GET /containers/json: Networks with the address, filter by network name and id
    for f in (name, nid):
        r = req(daemon, "GET", f"/v1.44/containers/json?filters={filters(network=[f])}")
        rows = [c for c in r.json() if c["Id"] == cid]
        assert len(rows) == 1, (f, r.json())
        summary = rows[0]["NetworkSettings"]["Networks"][name]
        assert summary["IPAddress"] == "10.250.11.77" and summary["NetworkID"] == nid
        assert set(summary) == set(ZERO_ENDPOINT)
    r = req(daemon, "GET", f"/v1.44/containers/json?filters={filters(network=['bridge'])}")
    assert cid not in [c["Id"] for c in r.json()]
    # connect live: a second interface with an address on the other network
    other = nets.create("run2")["Id"]
    r = req(daemon, "POST", f"/v1.44/networks/{other}/connect", {"Container": cname})
    assert r.status == 200, r.body
    nets_now = daemon.inspect(cid)["NetworkSettings"]["Networks"]
    assert set(nets_now) == {name, nets.name("run2")}
    assert nets_now[nets.name("run2")]["IPAddress"]
    r = req(daemon, "POST", f"/v1.44/networks/{other}/disconnect",
            {"Container": cid, "Force": True})
    assert r.status == 200, r.body
    assert set(daemon.inspect(cid)["NetworkSettings"]["Networks"]) == {name}


def test_create_container_on_missing_network_and_default_endpoint(daemon, nets):
    # moby creates the container and fails its start (a 404 from create means "no such
    # image" to the docker CLI, which would then try to pull)
    cid = nets.container(["true"], HostConfig={"NetworkMode": "dyt-nonet"})
    r = daemon.request("POST", f"/v1.44/containers/{cid}/start")
    assert (r.status, r.json()) == (404, {"message": "network dyt-nonet not found"})
    # what `docker create busybox` sends: NetworkMode "default" + an all-zero "default"
    cid = nets.container(["true"], HostConfig={"NetworkMode": "default"},
                         NetworkingConfig={"EndpointsConfig": {"default": ZERO_ENDPOINT}})
    assert set(daemon.inspect(cid)["NetworkSettings"]["Networks"]) == {"bridge"}


# --- prune -------------------------------------------------------------------------------


def test_prune_filters(daemon, nets):
    nets.create("p1", Labels={"dyt": nets.token, "keep": "no"})
    nets.create("p2", Labels={"dyt": nets.token, "keep": "yes"})
    used = nets.create("p3", Labels={"dyt": nets.token})["Id"]
    nets.container(["sleep", "300"], start=True, HostConfig={"NetworkMode": used})
    r = req(daemon, "POST", "/v1.44/networks/prune?filters=" + filters(
        label=[f"dyt={nets.token}"], **{"label!": ["keep=yes"]}))
    assert (r.status, r.json()) == (200, {"NetworksDeleted": [nets.name("p1")]})
    r = req(daemon, "POST", "/v1.44/networks/prune?filters=" + filters(
        label=[f"dyt={nets.token}"], until=["2000-01-01T00:00:00Z"]))
    assert (r.status, r.json()) == (200, {"NetworksDeleted": None})
    left = {n["Name"] for n in req(daemon, "GET", "/v1.44/networks").json()}
    assert {nets.name("p2"), nets.name("p3"), "bridge", "host", "none"} <= left
    r = req(daemon, "POST", "/v1.44/networks/prune?filters=" + filters(until=["nonsense"]))
    assert r.status == 400
    r = req(daemon, "POST", "/v1.44/networks/prune?filters=" + filters(driver=["bridge"]))
    assert (r.status, r.json()) == (400, {"message": "invalid filter 'driver'"})


# --- events ------------------------------------------------------------------------------


def test_network_events(daemon, nets):
    since = time.time() - 1
    nid = nets.create("ev")["Id"]
    cid = nets.container(["true"])
    assert req(daemon, "POST", f"/v1.44/networks/{nid}/connect", {"Container": cid}).status \
        == 200
    assert req(daemon, "POST", f"/v1.44/networks/{nid}/disconnect",
               {"Container": cid}).status == 200
    assert daemon.request("DELETE", f"/v1.44/networks/{nid}").status == 204
    until = time.time() + 1
    r = daemon.request("GET", f"/v1.44/events?since={since}&until={until}&filters="
                       + filters(type=["network"]), timeout=30)
    events = [json.loads(line) for line in r.body.splitlines() if line.strip()]
    mine = [(e["Action"], e["Actor"]["Attributes"].get("container", ""))
            for e in events if e["Actor"]["ID"] == nid]
    assert mine == [("create", ""), ("connect", cid), ("disconnect", cid), ("destroy", "")]
    assert all(e["Type"] == "network" and e["scope"] == "local" for e in events
               if e["Actor"]["ID"] == nid)


# --- published ports ---------------------------------------------------------------------


def _http_get(port: int, deadline: float) -> bytes:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
                if data:
                    return data
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing served on 127.0.0.1:{port}")
        time.sleep(0.1)


def test_published_port_served_and_reported(daemon, nets):
    port = free_port()
    cid = nets.container(
        ["sh", "-c", "mkdir -p /www && echo hello-dyt > /www/index.html && "
                     "exec httpd -f -p 80 -h /www"],
        start=True, ExposedPorts={"80/tcp": {}, "443/tcp": {}},
        HostConfig={"NetworkMode": "default", "PortBindings": {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}})
    ports = daemon.inspect(cid)["NetworkSettings"]["Ports"]
    assert ports["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
    assert ports.get("443/tcp") is None and "443/tcp" in ports
    rows = [c for c in req(daemon, "GET", "/v1.44/containers/json").json() if c["Id"] == cid]
    assert sorted(rows[0]["Ports"], key=lambda p: p["PrivatePort"]) == [
        {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": port, "Type": "tcp"},
        {"PrivatePort": 443, "Type": "tcp"}]
    body = _http_get(port, time.monotonic() + 20)
    assert body.startswith(b"HTTP/1.") and b"hello-dyt" in body
    # the port is held: a second container asking for it fails with Docker's text
    other = nets.container(["sleep", "30"], HostConfig={"PortBindings": {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}})
    r = daemon.request("POST", f"/v1.44/containers/{other}/start")
    assert r.status == 500 or r.status == 409, r.body
    assert f"127.0.0.1:{port} failed: port is already allocated" in r.json()["message"]


def test_publish_all_picks_ports(daemon, nets):
    cid = nets.container(["sleep", "300"], start=True, ExposedPorts={"80/tcp": {}},
                         HostConfig={"PublishAllPorts": True})
    bindings = daemon.inspect(cid)["NetworkSettings"]["Ports"]["80/tcp"]
    assert bindings and all(int(b["HostPort"]) > 0 for b in bindings)
    assert {b["HostIp"] for b in bindings} <= {"0.0.0.0", "::"}
