"""``network create|ls|inspect|rm|prune|connect|disconnect`` against the fake daemon. The
expected requests and outputs are docker CLI 28.2.2's for the same daemon answers
(compared once side by side against a recording fake daemon)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from test_client_fakedaemon import FakeDaemon, Reply, error
from test_client_fakedaemon import run_cli as run

from dockyard.cli import netopts
from dockyard.cli.commands.networks import go_time_string
from dockyard.cli.helptexts import HELP
from dockyard.cli.main import main

pytestmark = pytest.mark.unit

NETS: list[dict[str, Any]] = [
    {"Name": "net10", "Id": "a" * 64, "Created": "2026-11-28T15:00:01.123456700Z",
     "Scope": "local", "Driver": "bridge", "EnableIPv4": True, "EnableIPv6": False,
     "Internal": False, "Labels": {"env": "prod"}},
    {"Name": "net2", "Id": "b" * 64, "Created": "2026-11-28T15:00:00Z", "Scope": "local",
     "Driver": "bridge", "EnableIPv6": True, "Internal": True, "Labels": {}},
    {"Name": "bridge", "Id": "c" * 64, "Created": "2026-11-28T14:00:00.5+01:00",
     "Scope": "local", "Driver": "bridge", "EnableIPv6": False, "Internal": False,
     "Labels": None},
]


# --- create ------------------------------------------------------------------------------


def _created(daemon: FakeDaemon, *args: str) -> dict[str, Any]:
    daemon.route("POST", "/networks/create", Reply(201, {"Id": "n" * 64, "Warning": ""}))
    assert run(daemon, "network", "create", *args) == (0, "n" * 64 + "\n", "")
    return daemon.last("POST", "/networks/create").json()


def test_create_plain(daemon: FakeDaemon) -> None:
    assert _created(daemon, "n1") == {
        "Driver": "bridge", "Scope": "", "IPAM": {"Driver": "default", "Options": {},
                                                  "Config": []},
        "Internal": False, "Attachable": False, "Ingress": False, "ConfigOnly": False,
        "ConfigFrom": None, "Options": {}, "Labels": {}, "Name": "n1"}


def test_create_every_flag(daemon: FakeDaemon) -> None:
    body = _created(daemon, "-d", "bridge", "--subnet", "10.9.0.0/24", "--gateway",
                    "10.9.0.1", "--ip-range", "10.9.0.128/25", "--aux-address", "a=10.9.0.5",
                    "--label", "x=y", "--label", "z", "-o",
                    "com.docker.network.bridge.name=br9", "--internal", "--attachable",
                    "--ipv6", "--ipam-opt", "q=r", "n2")
    assert body == {
        "Driver": "bridge", "Scope": "", "EnableIPv6": True,
        "IPAM": {"Driver": "default", "Options": {"q": "r"}, "Config": [
            {"Subnet": "10.9.0.0/24", "IPRange": "10.9.0.128/25", "Gateway": "10.9.0.1",
             "AuxiliaryAddresses": {"a": "10.9.0.5"}}]},
        "Internal": True, "Attachable": True, "Ingress": False, "ConfigOnly": False,
        "ConfigFrom": None, "Options": {"com.docker.network.bridge.name": "br9"},
        "Labels": {"x": "y", "z": ""}, "Name": "n2"}


def test_create_ipv4_only_when_given_and_subnet_lists(daemon: FakeDaemon) -> None:
    assert _created(daemon, "--ipv4=false", "n3")["EnableIPv4"] is False
    assert "EnableIPv4" not in _created(daemon, "n4")
    body = _created(daemon, "--subnet", "10.1.0.0/24,fd00::/64", "--gateway", "fd00::1", "n5")
    assert body["IPAM"]["Config"] == [{"Subnet": "10.1.0.0/24"},
                                      {"Subnet": "fd00::/64", "Gateway": "fd00::1"}]
    assert _created(daemon, "--subnet", "bad", "n6")["IPAM"]["Config"] == [{"Subnet": "bad"}]


@pytest.mark.parametrize(("args", "status", "message"), [
    (["--subnet", "10.0.0.0/8", "--subnet", "10.1.0.0/16"], 1,
     "multiple overlapping subnet configuration is not supported"),
    (["--gateway", "10.1.0.1"], 1, "every ip-range or gateway must have a corresponding subnet"),
    (["--subnet", "10.0.0.0/24", "--gateway", "10.1.0.1"], 1,
     "no matching subnet for gateway 10.1.0.1"),
    (["--subnet", "10.0.0.0/24", "--aux-address", "a=10.2.0.1"], 1,
     "no matching subnet for aux-address 10.2.0.1"),
    (["--subnet", "10.0.0.0/24", "--ip-range", "10.1.0.0/24"], 1,
     "no matching subnet for range 10.1.0.0/24"),
    (["--subnet", "10.0.0.0/24", "--ip-range", "bad"], 1, "invalid CIDR address: bad"),
    (["--subnet", "10.0.0.0/24", "--subnet", "bad"], 1,
     "invalid subnet: invalid CIDR address: bad"),
    (["--label", "a b=c"], 125, 'invalid argument "a b=c" for "--label" flag: label \'a b\' '
                                "contains whitespaces"),
])
def test_create_errors(daemon: FakeDaemon, args: list[str], status: int,
                       message: str) -> None:
    got = run(daemon, "network", "create", *args, "n")
    assert got[0] == status and got[1] == ""
    assert got[2].splitlines()[0] == message
    assert not daemon.requests


def test_create_daemon_error(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/networks/create",
                 error(409, "network with name n already exists"))
    assert run(daemon, "network", "create", "n") == (
        1, "", "Error response from daemon: network with name n already exists\n")


# --- ls ----------------------------------------------------------------------------------


def test_ls_table_sorted_naturally(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/networks", Reply(200, NETS))
    assert run(daemon, "network", "ls") == (0, (
        "NETWORK ID     NAME      DRIVER    SCOPE\n"
        "cccccccccccc   bridge    bridge    local\n"
        "bbbbbbbbbbbb   net2      bridge    local\n"
        "aaaaaaaaaaaa   net10     bridge    local\n"), "")
    assert run(daemon, "network", "list", "-q")[1] == (
        "cccccccccccc\nbbbbbbbbbbbb\naaaaaaaaaaaa\n")
    assert run(daemon, "network", "ls", "--no-trunc")[1].splitlines()[1] == (
        "c" * 64 + "   bridge    bridge    local")
    assert run(daemon, "network", "ls", "-q", "--format", "{{.Name}}")[1] == (
        "bridge\nnet2\nnet10\n")


def test_ls_format_fields_and_json(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/networks", Reply(200, NETS))
    out = run(daemon, "network", "ls", "--format",
              '{{.Name}}|{{.IPv4}}|{{.IPv6}}|{{.Internal}}|{{.Labels}}|{{.Label "env"}}')[1]
    assert out == ("bridge|false|false|false||\nnet2|false|true|true||\n"
                   "net10|true|false|false|env=prod|prod\n")
    rows = [json.loads(line) for line in run(daemon, "network", "ls", "--format",
                                             "json")[1].splitlines()]
    assert rows[0] == {"CreatedAt": "2026-11-28 14:00:00.5 +0100 +0100", "Driver": "bridge",
                       "ID": "cccccccccccc", "IPv4": "false", "IPv6": "false",
                       "Internal": "false", "Labels": "", "Name": "bridge", "Scope": "local"}
    assert rows[2]["CreatedAt"] == "2026-11-28 15:00:01.1234567 +0000 UTC"


def test_ls_filters_query(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/networks", Reply(200, []))
    assert run(daemon, "network", "ls", "-f", "driver=bridge", "--filter", "name=x") == (
        0, "NETWORK ID   NAME      DRIVER    SCOPE\n", "")
    assert json.loads(daemon.last().query["filters"]) == {
        "driver": {"bridge": True}, "name": {"x": True}}


@pytest.mark.parametrize(("created", "text"), [
    ("2026-11-28T15:00:00Z", "2026-11-28 15:00:00 +0000 UTC"),
    ("2026-11-28T15:00:01.120000000Z", "2026-11-28 15:00:01.12 +0000 UTC"),
    ("2026-11-28T14:00:00.5+01:00", "2026-11-28 14:00:00.5 +0100 +0100"),
    ("", "0001-01-01 00:00:00 +0000 UTC"),
])
def test_go_time_string(created: str, text: str) -> None:
    assert go_time_string(created) == text


# --- inspect, rm, prune ------------------------------------------------------------------


def test_inspect_found_and_missing(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/networks/net10", Reply(200, NETS[0]))
    daemon.route("GET", "/networks/gone", error(404, "network gone not found"))
    status, out, err = run(daemon, "network", "inspect", "net10", "gone")
    assert status == 1 and json.loads(out) == [NETS[0]]
    assert err == "Error response from daemon: network gone not found\n"
    assert run(daemon, "network", "inspect", "gone") == (
        1, "[]\n", "Error response from daemon: network gone not found\n")
    assert run(daemon, "network", "inspect", "-f", "{{.Name}} {{.Scope}}", "-v", "net10") == (
        0, "net10 local\n", "")
    assert daemon.last().query == {"verbose": "true"}


def test_rm_goes_on_and_force_ignores_missing(daemon: FakeDaemon) -> None:
    daemon.route("DELETE", "/networks/gone", error(404, "network gone not found"))
    daemon.route("DELETE", "/networks/busy", error(
        409, "error while removing network: network busy id 1 has active endpoints"))
    daemon.route("DELETE", "/networks/[ab]", Reply(204))
    assert run(daemon, "network", "rm", "a", "gone", "b") == (
        1, "a\nb\n", "Error response from daemon: network gone not found\nexit status 1\n")
    assert run(daemon, "network", "remove", "-f", "gone", "a") == (0, "a\n", "")
    assert run(daemon, "network", "rm", "-f", "busy")[0] == 1


def test_prune(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/networks/prune", Reply(200, {"NetworksDeleted": ["n1", "n2"]}))
    warning = ("WARNING! This will remove all custom networks not used by at least one "
               "container.\nAre you sure you want to continue? [y/N] ")
    assert run(daemon, "network", "prune", stdin="n\n") == (0, warning, "")
    assert not daemon.requests
    assert run(daemon, "network", "prune", stdin="y\n") == (
        0, warning + "Deleted Networks:\nn1\nn2\n\n", "")
    assert run(daemon, "network", "prune", "-f", "--filter", "until=1h") == (
        0, "Deleted Networks:\nn1\nn2\n\n", "")
    assert json.loads(daemon.last().query["filters"]) == {"until": {"1h": True}}
    daemon.route("POST", "/networks/prune", Reply(200, {"NetworksDeleted": None}))
    assert run(daemon, "network", "prune", "-f") == (0, "", "")


# --- connect, disconnect -----------------------------------------------------------------


def test_connect_bodies(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/networks/n1/connect", Reply(200, body=b""))
    assert run(daemon, "network", "connect", "n1", "c1") == (0, "", "")
    assert daemon.last().json() == {"Container": "c1", "EndpointConfig": netopts.endpoint_settings(
        IPAMConfig={}, Aliases=[], DriverOpts={})}
    assert run(daemon, "network", "connect", "--alias", "a,b", "--alias", "c", "--ip",
               "10.0.0.5", "--ip6", "fd00::5", "--link", "x:y", "--driver-opt", "k=v",
               "--gw-priority", "3", "--link-local-ip", "169.254.0.9", "n1", "c1")[0] == 0
    assert daemon.last().json()["EndpointConfig"] == netopts.endpoint_settings(
        IPAMConfig={"IPv4Address": "10.0.0.5", "IPv6Address": "fd00::5",
                    "LinkLocalIPs": ["169.254.0.9"]},
        Links=["x:y"], Aliases=["a", "b", "c"], DriverOpts={"k": "v"}, GwPriority=3)


def test_connect_errors(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/networks/n1/connect", error(404, "No such container: c9"))
    assert run(daemon, "network", "connect", "n1", "c9") == (
        1, "", "Error response from daemon: No such container: c9\n")
    assert run(daemon, "network", "connect", "--driver-opt", "k", "n1", "c1") == (
        1, "", "invalid key/value pair format in driver options\n")
    status, _, err = run(daemon, "network", "connect", "n1")
    assert status == 1 and err.startswith(
        "dockyard: 'dockyard network connect' requires 2 arguments")


def test_disconnect_bodies(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/networks/n1/disconnect", Reply(200, body=b""))
    assert run(daemon, "network", "disconnect", "-f", "n1", "c1") == (0, "", "")
    assert daemon.last().json() == {"Container": "c1", "Force": True}
    run(daemon, "network", "disconnect", "n1", "c1")
    assert daemon.last().json() == {"Container": "c1", "Force": False}


# --- help --------------------------------------------------------------------------------


def test_network_help() -> None:
    out = io.StringIO()
    assert main(["network", "--help"], stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue() == (
        "Usage:  dockyard network COMMAND\n\nManage networks\n\nCommands:\n"
        "  connect     Connect a container to a network\n"
        "  create      Create a network\n"
        "  disconnect  Disconnect a container from a network\n"
        "  inspect     Display detailed information on one or more networks\n"
        "  ls          List networks\n"
        "  prune       Remove all unused networks\n"
        "  rm          Remove one or more networks\n\n"
        "Run 'dockyard network COMMAND --help' for more information on a command.\n")
    for sub in ("create", "ls", "list", "inspect", "rm", "remove", "prune", "connect",
                "disconnect"):
        out = io.StringIO()
        assert main(["network", sub, "--help"], stdout=out, stderr=io.StringIO()) == 0
        key = {"list": "ls", "remove": "rm"}.get(sub, sub)
        assert out.getvalue() == HELP[f"network {key}"]
