"""ports.py: Docker's port syntax and errors, planning, NetworkSettings.Ports, reservations.

Reservations bind real sockets only on 127.0.0.1 (no traffic); wildcard logic uses a fake bind.
"""

from __future__ import annotations

import errno
import socket

import pytest

from dockyard.network import ports as P
from dockyard.network.ports import PortMapping, PortRequest

pytestmark = pytest.mark.unit


# --- parsing (texts as docker CLI 28 prints them) -------------------------------------------


def test_parse_publish_forms():
    assert P.parse_publish("80") == [("80/tcp", {"HostIp": "", "HostPort": ""})]
    assert P.parse_publish("8080:80/udp") == [("80/udp", {"HostIp": "", "HostPort": "8080"})]
    assert P.parse_publish("127.0.0.1:8080:80") == [
        ("80/tcp", {"HostIp": "127.0.0.1", "HostPort": "8080"})
    ]
    assert P.parse_publish("127.0.0.1::80") == [
        ("80/tcp", {"HostIp": "127.0.0.1", "HostPort": ""})
    ]
    assert P.parse_publish("[::1]:8080:80/SCTP") == [
        ("80/sctp", {"HostIp": "::1", "HostPort": "8080"})
    ]
    assert P.parse_publish("::1:8080:80") == [("80/tcp", {"HostIp": "::1", "HostPort": "8080"})]


def test_parse_publish_ranges():
    assert P.parse_publish("8000-8002:80-82") == [
        ("80/tcp", {"HostIp": "", "HostPort": "8000"}),
        ("81/tcp", {"HostIp": "", "HostPort": "8001"}),
        ("82/tcp", {"HostIp": "", "HostPort": "8002"}),
    ]
    # one container port, a host range: pick the first free of it later
    assert P.parse_publish("8000-8010:80") == [("80/tcp", {"HostIp": "", "HostPort": "8000-8010"})]
    assert [k for k, _ in P.parse_publish("90-91")] == ["90/tcp", "91/tcp"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("70000:80", "invalid hostPort: 70000"),
        ("80:70000", "invalid containerPort: 70000"),
        ("8080:80/xyz", "invalid proto: xyz"),
        ("1.2.3:80:80", "invalid IP address: 1.2.3"),
        ("8000-8010:80-85",
         "invalid ranges specified for container and host Ports: 80-85 and 8000-8010"),
        ("abc:80", "invalid hostPort: abc"),
        ("80-70:80", "invalid hostPort: 80-70"),
        ("8080:", "no port specified: 8080:<empty>"),
    ],
)
def test_parse_publish_errors_are_dockers(spec, message):
    with pytest.raises(P.PortSpecError) as info:
        P.parse_publish(spec)
    assert str(info.value) == message
    assert info.value.status == 400


def test_parse_publish_specs_merges():
    exposed, bindings = P.parse_publish_specs(["8080:80", "127.0.0.1:9090:80", "53/udp"])
    assert exposed == {"80/tcp": {}, "53/udp": {}}
    assert bindings == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "9090"}],
        "53/udp": [{"HostIp": "", "HostPort": ""}],
    }


def test_parse_expose():
    assert P.parse_expose("80") == ["80/tcp"]
    assert P.parse_expose("8000-8002/udp") == ["8000/udp", "8001/udp", "8002/udp"]
    cases = {
        "abc": 'invalid range format for --expose: abc, error: strconv.ParseUint: parsing "abc": '
        "invalid syntax",
        "90-80": "invalid range format for --expose: 90-80, error: invalid range specified for "
        "port: 90-80",
        "70000": 'invalid range format for --expose: 70000, error: strconv.ParseUint: parsing '
        '"70000": value out of range',
        "80:90": "invalid port format for --expose: 80:90",
    }
    for spec, message in cases.items():
        with pytest.raises(P.PortSpecError) as info:
            P.parse_expose(spec)
        assert str(info.value) == message


def test_port_key_and_split():
    assert P.port_key("80") == "80/tcp"
    assert P.port_key("53/UDP") == "53/udp"
    assert P.split_proto_port("80/") == ("80", "tcp")
    assert P.split_proto_port("") == ("", "")


# --- planning -------------------------------------------------------------------------------


def test_plan_requests_bindings():
    bindings = {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": ""}],
        "53/udp": [{"HostIp": "", "HostPort": "0"}],
        "443": [{"HostIp": "::", "HostPort": "8000-8010"}],
    }
    assert P.plan_requests(bindings, None, False) == [
        PortRequest("udp", 53, "", 0, 0),
        PortRequest("tcp", 80, "", 8080, 8080),
        PortRequest("tcp", 80, "127.0.0.1", 0, 0),
        PortRequest("tcp", 443, "::", 8000, 8010),
    ]


def test_plan_requests_publish_all():
    exposed = {"80/tcp": {}, "53/udp": {}, "8080/tcp": {}}
    bindings = {"80/tcp": [{"HostIp": "", "HostPort": "9000"}], "9/tcp": None}
    assert P.plan_requests(bindings, exposed, True) == [
        PortRequest("tcp", 9),  # a key with no binding gets a random port under -P
        PortRequest("tcp", 80, "", 9000, 9000),
        PortRequest("udp", 53),
        PortRequest("tcp", 8080),
    ]
    assert P.plan_requests(None, exposed, False) == []  # exposed alone publishes nothing


@pytest.mark.parametrize(
    ("bindings", "message"),
    [
        ({"70000/tcp": []}, 'invalid port specification: "70000"'),
        ({"0/tcp": []}, 'invalid port specification: "0"'),
        ({"x/tcp": []}, 'invalid port specification: "x"'),
        ({"80/tcp": [{"HostPort": "70000"}]}, 'invalid port specification: "70000"'),
        ({"80/tcp": [{"HostPort": "90-80"}]}, 'invalid port specification: "90-80"'),
        ({"80/tcp": [{"HostPort": "http"}]}, 'invalid port specification: "http"'),
        ({"80/icmp": []}, "invalid proto: icmp"),
        ({"80/tcp": [{"HostIp": "localhost", "HostPort": "1"}]}, "invalid IP address: localhost"),
    ],
)
def test_validate_port_bindings(bindings, message):
    with pytest.raises(P.PortSpecError) as info:
        P.validate_port_bindings(bindings)
    assert str(info.value) == message


def test_port_range_file(tmp_path):
    f = tmp_path / "range"
    f.write_text("32768\t60999\n")
    assert P.port_range(f) == (32768, 60999)
    f.write_text("junk")
    assert P.port_range(f) == P.DEFAULT_RANGE
    assert P.port_range(tmp_path / "missing") == P.DEFAULT_RANGE


# --- rendering --------------------------------------------------------------------------------


def test_render_ports_as_docker():
    maps = [
        PortMapping("tcp", "", 8080, "fd00::2", 80, "br"),
        PortMapping("tcp", "", 8080, "172.18.0.2", 80, "br"),
        PortMapping("udp", "127.0.0.1", 5353, "172.18.0.2", 53, "br"),
    ]
    assert P.render_ports(["80/tcp", "443", "53/udp"], maps) == {
        "443/tcp": None,
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
    }
    # an IPv4-only container: only 0.0.0.0 is served, so only it is reported
    assert P.render_ports([], maps[1:2]) == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    assert P.render_ports([], []) == {}


def test_summary_ports():
    maps = [PortMapping("tcp", "", 8080, "172.18.0.2", 80, "br")]
    assert P.summary_ports(["80/tcp", "443/tcp"], maps) == [
        {"PrivatePort": 443, "Type": "tcp"},
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
    ]


# --- reservations -----------------------------------------------------------------------------


class FakeBind:
    """Records binds; ports in ``busy`` fail as the kernel would (EADDRINUSE)."""

    def __init__(self, busy=()):
        self.busy = set(busy)
        self.calls = []

    def __call__(self, family, proto, ip, port):
        self.calls.append((family, proto, ip, port))
        if port in self.busy:
            raise OSError(errno.EADDRINUSE, "Address already in use")
        return None


def _res(busy=(), rng=(40000, 40009)):
    bind = FakeBind(busy)
    return P.PortReservations(rng, bind=bind), bind


def test_fixed_port_and_conflict_between_containers():
    res, _ = _res()
    [m] = res.reserve("c1", [PortRequest("tcp", 80, "", 8080, 8080)], container_ip="172.18.0.2",
                      bridge="br")
    assert m == PortMapping("tcp", "", 8080, "172.18.0.2", 80, "br")
    with pytest.raises(P.PortAllocationError) as info:
        res.reserve("c2", [PortRequest("tcp", 80, "127.0.0.1", 8080, 8080)],
                    container_ip="172.18.0.3", bridge="br", endpoint="web", endpoint_id="e1")
    assert str(info.value) == (
        "driver failed programming external connectivity on endpoint web (e1): "
        "Bind for 127.0.0.1:8080 failed: port is already allocated"
    )
    assert info.value.status == 500
    # another protocol, or another specific address, does not conflict
    res.reserve("c2", [PortRequest("udp", 80, "", 8080, 8080)], container_ip="172.18.0.3",
                bridge="br")
    res.reserve("c3", [PortRequest("tcp", 80, "127.0.0.1", 9090, 9090)],
                container_ip="172.18.0.4", bridge="br")
    res.reserve("c4", [PortRequest("tcp", 80, "127.0.0.2", 9090, 9090)],
                container_ip="172.18.0.5", bridge="br")


def test_port_taken_by_another_program():
    res, _ = _res(busy={8080})
    with pytest.raises(P.PortAllocationError) as info:
        res.reserve("c1", [PortRequest("tcp", 80, "", 8080, 8080)], container_ip="172.18.0.2",
                    bridge="br", endpoint="web", endpoint_id="e1")
    assert str(info.value) == (
        "driver failed programming external connectivity on endpoint web (e1): "
        "failed to bind host port for 0.0.0.0:8080:172.18.0.2:80/tcp: address already in use"
    )


def test_range_picks_first_free_and_random_walks_the_ephemeral_range():
    res, _ = _res(busy={8000})
    res.reserve("c0", [PortRequest("tcp", 1, "", 8001, 8001)], container_ip="10.0.0.9",
                bridge="br")
    [m] = res.reserve("c1", [PortRequest("tcp", 80, "", 8000, 8003)], container_ip="10.0.0.2",
                      bridge="br")
    assert m.host_port == 8002  # 8000 busy on the host, 8001 held by c0
    got = [res.reserve(f"r{i}", [PortRequest("tcp", 80)], container_ip="10.0.0.3",
                       bridge="br")[0].host_port for i in range(3)]
    assert got == [40000, 40001, 40002]
    res.release("r1")
    assert res.reserve("r3", [PortRequest("tcp", 80)], container_ip="10.0.0.3",
                       bridge="br")[0].host_port == 40003  # onwards, as Docker's allocator
    with pytest.raises(P.PortAllocationError, match=r"Bind for 0\.0\.0\.0:8000-8001 failed"):
        res.reserve("c2", [PortRequest("tcp", 80, "", 8000, 8001)], container_ip="10.0.0.4",
                    bridge="br")


def test_random_exhausted():
    res, _ = _res(rng=(40000, 40001), busy={40000})
    res.reserve("a", [PortRequest("udp", 1)], container_ip="10.0.0.2", bridge="br")
    with pytest.raises(P.PortAllocationError, match="all ports are allocated"):
        res.reserve("b", [PortRequest("udp", 1)], container_ip="10.0.0.2", bridge="br")


def test_all_or_nothing_and_release():
    res, _ = _res(busy={9001})
    reqs = [PortRequest("tcp", 80, "", 9000, 9000), PortRequest("tcp", 81, "", 9001, 9001)]
    with pytest.raises(P.PortAllocationError):
        res.reserve("c1", reqs, container_ip="10.0.0.2", bridge="br")
    assert res.mappings("c1") == [] and res.owners() == []
    res.reserve("c2", reqs[:1], container_ip="10.0.0.3", bridge="br")  # 9000 was given back
    assert [m.host_port for m in res.release("c2")] == [9000]
    assert res.release("c2") == []


def test_ipv6_legs():
    res, bind = _res()
    maps = res.reserve("c1", [PortRequest("tcp", 80, "", 8080, 8080)], container_ip="10.0.0.2",
                       container_ip6="fd00::2", bridge="br")
    assert [m.container_ip for m in maps] == ["10.0.0.2", "fd00::2"]
    assert [(c[0], c[2]) for c in bind.calls] == [(socket.AF_INET, "0.0.0.0"),
                                                  (socket.AF_INET6, "::")]
    with pytest.raises(P.PortAllocationError, match="no IPv6 address"):
        res.reserve("c2", [PortRequest("tcp", 80, "::1", 8081, 8081)], container_ip="10.0.0.3",
                    bridge="br")


def test_real_sockets_hold_the_port_until_release():
    res = P.PortReservations((40000, 40099))
    [m] = res.reserve("c1", [PortRequest("tcp", 80, "127.0.0.1", 0, 0)], container_ip="10.0.0.2",
                      bridge="br")
    [u] = res.reserve("c1", [PortRequest("udp", 53, "127.0.0.1", 0, 0)], container_ip="10.0.0.2",
                      bridge="br")
    try:
        for kind, port in ((socket.SOCK_STREAM, m.host_port), (socket.SOCK_DGRAM, u.host_port)):
            with socket.socket(socket.AF_INET, kind) as other:
                with pytest.raises(OSError) as info:
                    other.bind(("127.0.0.1", port))
                assert info.value.errno == errno.EADDRINUSE
        # a real other program holding a port: Docker's text
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            taken = squatter.getsockname()[1]
            with pytest.raises(P.PortAllocationError, match="address already in use"):
                res.reserve("c2", [PortRequest("tcp", 80, "127.0.0.1", taken, taken)],
                            container_ip="10.0.0.3", bridge="br")
    finally:
        res.close()
    for kind, port in ((socket.SOCK_STREAM, m.host_port), (socket.SOCK_DGRAM, u.host_port)):
        with socket.socket(socket.AF_INET, kind) as again:
            again.bind(("127.0.0.1", port))
