"""The network and port flags of run/create (cli/netopts.py) against what the docker CLI
28.2.2 sends: DOCKER_BODIES and DOCKER_ERRORS were captured once from ``docker create ARGS
busybox`` against a recording fake daemon (fields that differ from a plain ``docker create
busybox``; endpoint settings without their zero fields). Plus ps's PORTS column and
``port``'s lines (docker's DisplayablePorts and runPort)."""

from __future__ import annotations

from typing import Any

import pytest
from test_client_fakedaemon import FakeDaemon, Reply
from test_client_fakedaemon import run_cli as run

from dockyard.cli import netopts

pytestmark = pytest.mark.unit

CID = "c" * 64
DEFAULTS: dict[str, Any] = {"ExposedPorts": None, "PortBindings": {}, "PublishAllPorts": False,
                            "NetworkMode": "default", "Links": None,
                            "Endpoints": {"default": {}}}

DOCKER_BODIES: list[tuple[list[str], dict[str, Any]]] = [
    (['-p', '80'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '', 'HostPort': ''}]}}),
    (['-p', '8080:80'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '', 'HostPort': '8080'}]}}),
    (['-p', '127.0.0.1:8080:80'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '127.0.0.1', 'HostPort': '8080'}]}}),
    (['-p', '127.0.0.1::80'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '127.0.0.1', 'HostPort': ''}]}}),
    (['-p', '[::1]:8080:80'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '::1', 'HostPort': '8080'}]}}),
    (['-p', '::1:8080:80'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '::1', 'HostPort': '8080'}]}}),
    (['-p', '[::]::80/udp'],
     {'ExposedPorts': {'80/udp': {}},
      'PortBindings': {'80/udp': [{'HostIp': '::', 'HostPort': ''}]}}),
    (['-p', '8080-8081:80-81'],
     {'ExposedPorts': {'80/tcp': {}, '81/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '', 'HostPort': '8080'}],
                       '81/tcp': [{'HostIp': '', 'HostPort': '8081'}]}}),
    (['-p', '8000-8010:80'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '', 'HostPort': '8000-8010'}]}}),
    (['-p', '80-81'],
     {'ExposedPorts': {'80/tcp': {}, '81/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '', 'HostPort': ''}],
                       '81/tcp': [{'HostIp': '', 'HostPort': ''}]}}),
    (['-p', '80/udp', '-p', '80'],
     {'ExposedPorts': {'80/tcp': {}, '80/udp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '', 'HostPort': ''}],
                       '80/udp': [{'HostIp': '', 'HostPort': ''}]}}),
    (['-p', '8080:80', '-p', '8081:80'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '', 'HostPort': '8080'},
                                  {'HostIp': '', 'HostPort': '8081'}]}}),
    (['-p', '80/TCP'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '', 'HostPort': ''}]}}),
    (['-p', '53:53/sctp'],
     {'ExposedPorts': {'53/sctp': {}},
      'PortBindings': {'53/sctp': [{'HostIp': '', 'HostPort': '53'}]}}),
    (['-p', 'target=80,published=8080'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '', 'HostPort': '8080'}]}}),
    (['-p', 'target=80,published=8080,protocol=udp'],
     {'ExposedPorts': {'80/udp': {}},
      'PortBindings': {'80/udp': [{'HostIp': '', 'HostPort': '8080'}]}}),
    (['-p', 'target=80'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '', 'HostPort': ''}]}}),
    (['-p', '0.0.0.0:8080:80/tcp'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '0.0.0.0', 'HostPort': '8080'}]}}),
    (['-p', '8080:80/'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '', 'HostPort': '8080'}]}}),
    (['--expose', '80'], {'ExposedPorts': {'80/tcp': {}}}),
    (['--expose', '80/udp'], {'ExposedPorts': {'80/udp': {}}}),
    (['--expose', '7-9'], {'ExposedPorts': {'7/tcp': {}, '8/tcp': {}, '9/tcp': {}}}),
    (['-P', '--expose', '80'], {'ExposedPorts': {'80/tcp': {}}, 'PublishAllPorts': True}),
    (['--network', 'foo'], {'NetworkMode': 'foo', 'Endpoints': {}}),
    (['--network', 'foo', '--network', 'bar'],
     {'NetworkMode': 'foo', 'Endpoints': {'bar': {}, 'foo': {}}}),
    (['--network', 'foo', '--network-alias', 'a', '--network-alias', 'b'],
     {'NetworkMode': 'foo', 'Endpoints': {'foo': {'Aliases': ['a', 'b']}}}),
    (['--network', 'foo', '--ip', '10.1.2.3', '--ip6', 'fd00::3'],
     {'NetworkMode': 'foo',
      'Endpoints': {'foo': {'IPAMConfig': {'IPv4Address': '10.1.2.3',
                                           'IPv6Address': 'fd00::3'}}}}),
    (['--ip', '10.1.2.3'],
     {'Endpoints': {'default': {'IPAMConfig': {'IPv4Address': '10.1.2.3'}}}}),
    (['--link', 'c1:db'], {'Links': ['c1:db']}),
    (['--network', 'foo', '--link', 'c1:db'],
     {'NetworkMode': 'foo', 'Links': ['c1:db'], 'Endpoints': {'foo': {'Links': ['c1:db']}}}),
    (['--mac-address', '02:42:ac:11:00:09'],
     {'Endpoints': {'default': {'MacAddress': '02:42:ac:11:00:09'}}}),
    (['--network', 'foo', '--mac-address', '02:42:ac:11:00:09'],
     {'NetworkMode': 'foo', 'Endpoints': {'foo': {'MacAddress': '02:42:ac:11:00:09'}}}),
    (['--network', 'name=foo,alias=x,ip=10.0.0.5'],
     {'NetworkMode': 'foo',
      'Endpoints': {'foo': {'IPAMConfig': {'IPv4Address': '10.0.0.5'}, 'Aliases': ['x']}}}),
    (['--network', 'host'], {'NetworkMode': 'host', 'Endpoints': {}}),
    (['--network', 'none'], {'NetworkMode': 'none', 'Endpoints': {}}),
    (['--network', 'bridge'], {'NetworkMode': 'bridge', 'Endpoints': {}}),
    (['--network', 'container:abc'], {'NetworkMode': 'container:abc', 'Endpoints': {}}),
    (['--net', 'foo', '--net-alias', 'z'],
     {'NetworkMode': 'foo', 'Endpoints': {'foo': {'Aliases': ['z']}}}),
    (['--network', 'name=foo,driver-opt=a=b,gw-priority=5'],
     {'NetworkMode': 'foo', 'Endpoints': {'foo': {'DriverOpts': {'a': 'b'}, 'GwPriority': 5}}}),
    (['-p', ':80'],
     {'ExposedPorts': {'80/tcp': {}},
      'PortBindings': {'80/tcp': [{'HostIp': '', 'HostPort': ''}]}}),
    (['-p', '0'],
     {'ExposedPorts': {'0/tcp': {}},
      'PortBindings': {'0/tcp': [{'HostIp': '', 'HostPort': ''}]}}),
]

DOCKER_ERRORS: list[tuple[list[str], str]] = [
    (['--network', 'bridge', '--network-alias', 'a'],
     'docker: network-scoped aliases are only supported for user-defined networks'),
    (['--network', 'foo', '--network', 'foo'],
     'docker: network "foo" is specified multiple times'),
    (['--network', 'foo', '--network', 'host'],
     'docker: conflicting options: cannot attach both user-defined and non-user-defined '
     'network-modes'),
    (['-p', 'abc'], 'docker: invalid containerPort: abc'),
    (['-p', '70000'], 'docker: invalid containerPort: 70000'),
    (['-p', '1.2.3:80:80'], 'docker: invalid IP address: 1.2.3'),
    (['-p', '80/foo'], 'docker: invalid proto: foo'),
    (['-p', '8000-8001:80-82'],
     'docker: invalid ranges specified for container and host Ports: 80-82 and 8000-8001'),
    (['-p', 'published=80'], 'docker: no port specified: 80:/tcp<empty>'),
    (['-p', 'target=80,foo'],
     "docker: invalid publish opts format (should be name=value but got 'foo')"),
    (['--expose', '1:2'], 'docker: invalid port format for --expose: 1:2'),
    (['--expose', 'x'],
     'docker: invalid range format for --expose: x, error: strconv.ParseUint: parsing "x": '
     'invalid syntax'),
    (['-p', '8080:'], 'docker: no port specified: 8080:<empty>'),
    (['-p', '90-80'], 'docker: invalid containerPort: 90-80'),
    (['--mac-address', 'zz'], 'docker: zz is not a valid mac address'),
    (['--network', 'name=foo,bogus=1'],
     'invalid argument "name=foo,bogus=1" for "--network" flag: invalid field key bogus'),
]


@pytest.fixture
def daemon(daemon: FakeDaemon) -> FakeDaemon:
    daemon.route("POST", "/containers/create", Reply(201, {"Id": CID, "Warnings": []}))
    return daemon


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    hc = body["HostConfig"]
    zero = netopts.endpoint_settings()
    endpoints = {name: {k: v for k, v in ep.items() if zero[k] != v}
                 for name, ep in body["NetworkingConfig"]["EndpointsConfig"].items()}
    for ep in body["NetworkingConfig"]["EndpointsConfig"].values():
        assert set(ep) == set(zero)  # every field, as Go marshals the struct
    return {"ExposedPorts": body.get("ExposedPorts"), "PortBindings": hc["PortBindings"],
            "PublishAllPorts": hc["PublishAllPorts"], "NetworkMode": hc["NetworkMode"],
            "Links": hc["Links"], "Endpoints": endpoints}


@pytest.mark.parametrize(("args", "expected"), DOCKER_BODIES,
                         ids=[" ".join(a) for a, _ in DOCKER_BODIES])
def test_create_body_as_docker(daemon: FakeDaemon, args: list[str],
                               expected: dict[str, Any]) -> None:
    status, out, err = run(daemon, "create", *args, "busybox")
    assert (status, out, err) == (0, CID + "\n", "")
    body = daemon.last("POST", "/containers/create").json()
    assert _fields(body) == {**DEFAULTS, **expected}
    assert "MacAddress" not in body  # API 1.44: on the endpoint only


@pytest.mark.parametrize(("args", "message"), DOCKER_ERRORS,
                         ids=[" ".join(a) for a, _ in DOCKER_ERRORS])
def test_create_errors_as_docker(daemon: FakeDaemon, args: list[str], message: str) -> None:
    status, out, err = run(daemon, "create", *args, "busybox")
    assert status == 125 and out == ""
    expected = message.replace("docker", "dockyard", 1)
    assert err.splitlines()[0] == expected
    if message.startswith("docker: "):
        assert err.endswith("\n\nRun 'dockyard create --help' for more information\n")
    assert not [r for r in daemon.requests if r.path == "/containers/create"]


# --- the pure parsers, beyond what the captures show -----------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("80", [("80/tcp", {"HostIp": "", "HostPort": ""})]),
    ("080", [("80/tcp", {"HostIp": "", "HostPort": ""})]),
    ("1.2.3.4:5-6:7-8/udp", [("7/udp", {"HostIp": "1.2.3.4", "HostPort": "5"}),
                             ("8/udp", {"HostIp": "1.2.3.4", "HostPort": "6"})]),
    ("::1:8080:80", [("80/tcp", {"HostIp": "::1", "HostPort": "8080"})]),
    ("[fe80::1]::53/sctp", [("53/sctp", {"HostIp": "fe80::1", "HostPort": ""})]),
    ("9000-9002:80", [("80/tcp", {"HostIp": "", "HostPort": "9000-9002"})]),
    ("65535", [("65535/tcp", {"HostIp": "", "HostPort": ""})]),
])
def test_parse_port_spec(raw: str, expected: list) -> None:
    assert netopts.parse_port_spec(raw) == expected


@pytest.mark.parametrize(("raw", "message"), [
    ("65536", "invalid containerPort: 65536"),
    ("x:80", "invalid hostPort: x"),
    ("70000:80", "invalid hostPort: 70000"),
    ("[::1:80:80", "invalid IP address [::1: address [::1:: missing ']' in address"),
    ("fe80::1%eth0:80:80", "invalid IP address: fe80::1%eth0"),
    ("localhost:80:80", "invalid IP address: localhost"),
    ("", "no port specified: <empty>"),
    ("-1", "invalid containerPort: -1"),
])
def test_parse_port_spec_errors(raw: str, message: str) -> None:
    with pytest.raises(netopts.NetOptError) as info:
        netopts.parse_port_spec(raw)
    assert str(info.value) == message


def test_publish_merges_bindings_and_expose_adds_ranges() -> None:
    exposed, bindings = netopts.parse_publish(["8080:80", "127.0.0.1:8081:80", "53/udp"])
    assert bindings == {"80/tcp": [{"HostIp": "", "HostPort": "8080"},
                                   {"HostIp": "127.0.0.1", "HostPort": "8081"}],
                        "53/udp": [{"HostIp": "", "HostPort": ""}]}
    assert netopts.parse_expose(["80", "7-8/udp", "9/FOO"], exposed) == {
        "80/tcp": {}, "53/udp": {}, "7/udp": {}, "8/udp": {}, "9/FOO": {}}
    with pytest.raises(netopts.NetOptError, match="empty string specified for ports"):
        netopts.parse_expose([""], {})


def test_network_flag_long_syntax() -> None:
    assert netopts.parse_network_flag("name=Net1,alias=A,alias=b,ip=10.0.0.2,"
                                      "driver-opt=k=V,gw-priority=-2") == {
        "Target": "net1", "Aliases": ["a", "b"], "IPv4Address": "10.0.0.2",
        "DriverOpts": {"k": "v"}, "GwPriority": -2}
    assert netopts.parse_network_flag("my-net") == {"Target": "my-net"}
    for value, why in (("name=a,gw-priority=x", "invalid gw-priority (x): invalid syntax"),
                       ("alias=a", "network name/id is not specified"),
                       ("name=a,junk", "invalid field junk"),
                       ("name=a,driver-opt=k", "invalid key value pair format in driver "
                                               "options")):
        with pytest.raises(netopts.FlagValueError) as info:
            netopts.parse_network_flag(value)
        assert str(info.value) == f'invalid argument "{value}" for "--network" flag: {why}'


def test_networks_conflicts_and_link_semantics() -> None:
    mode, eps = netopts.parse_networks([], links=["db:db"])
    assert mode == "default" and eps == {"default": netopts.endpoint_settings()}
    mode, eps = netopts.parse_networks(["name=n1,alias=x"], aliases=[])
    assert eps["n1"]["Aliases"] == ["x"]
    with pytest.raises(netopts.NetOptError, match="--network-alias and per-network alias"):
        netopts.parse_networks(["name=n1,alias=x"], aliases=["y"])
    with pytest.raises(netopts.NetOptError, match="--ip and per-network IPv4 address"):
        netopts.parse_networks(["name=n1,ip=10.0.0.2"], ip="10.0.0.3")
    # --link on the default bridge is a legacy link: HostConfig.Links only
    assert netopts.parse_networks(["bridge"], links=["db"]) == ("bridge", {})
    # the second network gets none of the per-container flags
    mode, eps = netopts.parse_networks(["n1", "n2"], aliases=["a"], ip="10.0.0.2")
    assert mode == "n1" and eps["n1"]["Aliases"] == ["a"]
    assert eps["n2"] == netopts.endpoint_settings()


@pytest.mark.parametrize(("mac", "ok"), [
    ("02:42:ac:11:00:02", True), ("02-42-AC-11-00-02", True), ("0242.ac11.0002", True),
    ("02:42:ac:11:00:02:00:01", True), ("02:42:ac:11:00", False), ("02:42-ac:11:00:02", False),
    ("zz:42:ac:11:00:02", False), ("", False)])
def test_valid_mac(mac: str, ok: bool) -> None:
    assert netopts.valid_mac(mac) is ok


# --- showing ports ------------------------------------------------------------------------


@pytest.mark.parametrize(("ports", "text"), [
    ([], ""),
    ([{"PrivatePort": 443, "Type": "tcp"},
      {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
     "443/tcp, 0.0.0.0:8080->80/tcp"),
    ([{"PrivatePort": p, "Type": "tcp"} for p in (7001, 7000, 7002, 9000)],
     "7000-7002/tcp, 9000/tcp"),
    ([{"IP": "0.0.0.0", "PrivatePort": p, "PublicPort": p, "Type": "tcp"} for p in (80, 81)]
     + [{"IP": "::", "PrivatePort": 80, "PublicPort": 80, "Type": "tcp"}],
     "0.0.0.0:80-81->80-81/tcp, [::]:80->80/tcp"),
    ([{"IP": "::", "PrivatePort": 53, "PublicPort": 5353, "Type": "udp"},
      {"PrivatePort": 53, "Type": "tcp"}],
     "53/tcp, [::]:5353->53/udp"),
])
def test_display_ports(ports: list[dict[str, Any]], text: str) -> None:
    assert netopts.display_ports(ports) == text


def test_port_lines_natural_order() -> None:
    ports = {"9000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}],
             "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                        {"HostIp": "::", "HostPort": "8080"}],
             "443/tcp": None, "53/udp": [{"HostIp": "", "HostPort": "53"}]}
    assert netopts.port_lines(ports) == ["53/udp -> :53", "80/tcp -> 0.0.0.0:8080",
                                         "80/tcp -> [::]:8080", "9000/tcp -> 0.0.0.0:32768"]
    assert netopts.port_lines(ports, "80") == ["0.0.0.0:8080", "[::]:8080"]
    assert netopts.port_lines(ports, "443/tcp") == []
    assert netopts.port_lines(ports, "53/udp") == [":53"]


@pytest.mark.parametrize(("a", "b"), [("a2", "a10"), ("a", "a0"), ("x1b", "x01"),
                                      ("net2", "net10"), ("1", "a"), ("a01", "a001")])
def test_natural_less(a: str, b: str) -> None:
    assert netopts.natural_less(a, b) and not netopts.natural_less(b, a)


def test_port_command(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/web/json", Reply(200, {"NetworkSettings": {"Ports": {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": None}}}))
    assert run(daemon, "port", "web") == (0, "80/tcp -> 0.0.0.0:8080\n", "")
    assert run(daemon, "port", "web", "80/tcp") == (0, "0.0.0.0:8080\n", "")
    assert run(daemon, "container", "port", "web", "443") == (
        1, "", "Error: No public port '443' published for web\n")
    assert run(daemon, "port", "web", "http") == (
        1, "", 'Error: invalid port (http): strconv.ParseUint: parsing "http": invalid '
               "syntax\n")
