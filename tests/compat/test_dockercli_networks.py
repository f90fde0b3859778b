"""The real docker CLI (on PATH) against dockyardd: ``network create/ls/inspect/connect/
disconnect/rm/prune``; two containers on a user-defined network find each other by name and
by alias (busybox ``nslookup``, ``ping``); ``run -p 127.0.0.1:PORT:80`` with busybox httpd
reachable from the host; ``docker port`` and the PORTS column of ``docker ps``.

Hermetic as test_api_containers_support.container_daemon (own bridge, nft table, cgroup
parent, address pool); every test removes its containers and networks. Skipped without
docker."""

from __future__ import annotations

import json
import secrets
import socket
import time

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]


@pytest.fixture
def names(cli):
    """A prefix for this test's objects; its containers and networks go at the end."""
    prefix = f"dyn{secrets.token_hex(3)}"
    yield prefix
    ids = cli("ps", "-aq", "--filter", f"name={prefix}", check=False).stdout.split()
    if ids:
        cli("rm", "-f", *ids, check=False)
    nets = cli("network", "ls", "-q", "--filter", f"name={prefix}", check=False).stdout.split()
    if nets:
        cli("network", "rm", *nets)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_network_lifecycle(cli, names):
    net = f"{names}-net"
    nid = cli("network", "create", "--subnet", "10.251.3.0/24", "--gateway", "10.251.3.1",
              "--label", "dyn=1", net).stdout.strip()
    assert len(nid) == 64
    ls = cli("network", "ls").stdout.splitlines()
    assert ls[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert f"{nid[:12]}   {net}" in "\n".join(ls)
    assert {"bridge", "host", "none"} <= set(cli("network", "ls", "--format",
                                                 "{{.Name}}").stdout.split())
    assert cli("network", "ls", "-q", "--filter", f"name={net}").stdout == nid[:12] + "\n"
    assert cli("network", "ls", "--no-trunc", "-q", "--filter",
               "label=dyn=1").stdout.split() == [nid]
    got = json.loads(cli("network", "inspect", net).stdout)
    assert len(got) == 1 and got[0]["Id"] == nid and got[0]["Driver"] == "bridge"
    assert got[0]["IPAM"]["Config"] == [{"Subnet": "10.251.3.0/24", "Gateway": "10.251.3.1"}]
    assert cli("network", "inspect", "-f", "{{.Name}} {{.Scope}}", nid[:12]).stdout == (
        f"{net} local\n")
    r = cli("network", "create", net, check=False)
    assert r.returncode == 1
    assert r.stderr == f"Error response from daemon: network with name {net} already exists\n"
    assert cli("network", "rm", net).stdout == f"{net}\n"
    r = cli("network", "inspect", net, check=False)
    assert (r.returncode, r.stdout) == (1, "[]\n")
    assert f"network {net} not found" in r.stderr
    r = cli("network", "rm", "bridge", check=False)
    assert r.returncode == 1
    assert "bridge is a pre-defined network and cannot be removed" in r.stderr


def test_connect_disconnect_and_prune(cli, names):
    net = f"{names}-cd"
    cli("network", "create", net)
    cli("network", "create", f"{names}-unused", "--label", f"{names}=x")
    cli("run", "-d", "--name", f"{names}-c", "busybox", "sleep", "300")
    cli("network", "connect", "--alias", "svc", net, f"{names}-c")
    networks = json.loads(cli("inspect", "-f", "{{json .NetworkSettings.Networks}}",
                              f"{names}-c").stdout)
    assert set(networks) == {"bridge", net} and networks[net]["Aliases"] == ["svc"]
    assert networks[net]["IPAddress"]
    members = json.loads(cli("network", "inspect", "-f", "{{json .Containers}}",
                             net).stdout)
    assert [m["Name"] for m in members.values()] == [f"{names}-c"]
    r = cli("network", "rm", net, check=False)
    assert r.returncode == 1 and "has active endpoints" in r.stderr, r.stderr
    cli("network", "disconnect", net, f"{names}-c")
    assert set(json.loads(cli("inspect", "-f", "{{json .NetworkSettings.Networks}}",
                              f"{names}-c").stdout)) == {"bridge"}
    out = cli("network", "prune", "-f", "--filter", f"label={names}=x").stdout
    assert out == f"Deleted Networks:\n{names}-unused\n\n"
    left = cli("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert f"{names}-unused" not in left and net in left


def _exec_retry(cli, container: str, *cmd: str, deadline: float = 20.0):
    end = time.monotonic() + deadline
    while True:
        r = cli("exec", container, *cmd, check=False)
        if r.returncode == 0 or time.monotonic() > end:
            return r
        time.sleep(0.2)


def test_two_containers_reach_each_other_by_name(cli, names):
    net = f"{names}-dns"
    cli("network", "create", net)
    server, client = f"{names}-server", f"{names}-client"
    cli("run", "-d", "--name", server, "--network", net, "--network-alias", "backend",
        "busybox", "sleep", "300")
    cli("run", "-d", "--name", client, "--net", net, "busybox", "sleep", "300")
    ip = cli("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}",
             server).stdout.strip()
    assert ip.count(".") == 3
    for query in (server, "backend"):
        r = _exec_retry(cli, client, "nslookup", query)
        assert r.returncode == 0, (query, r.stdout, r.stderr)
        assert ip in r.stdout, (query, r.stdout)
    r = _exec_retry(cli, client, "ping", "-c", "1", "-W", "2", server)
    assert r.returncode == 0 and "1 packets received" in r.stdout, r.stdout + r.stderr
    r = cli("exec", client, "nslookup", f"{names}-nobody", check=False)
    assert r.returncode != 0
    cli("rm", "-f", server, client)


def test_publish_httpd_port_and_ps(cli, names):
    port = free_port()
    name = f"{names}-web"
    cli("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:80", "--expose", "443",
        "busybox", "sh", "-c",
        "mkdir -p /www && echo hello-dyn > /www/index.html && exec httpd -f -p 80 -h /www")
    assert cli("port", name).stdout == f"80/tcp -> 127.0.0.1:{port}\n"
    assert cli("port", name, "80").stdout == f"127.0.0.1:{port}\n"
    r = cli("port", name, "443", check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == f"Error: No public port '443' published for {name}"
    ports = cli("ps", "--filter", f"name={name}", "--format", "{{.Ports}}").stdout.strip()
    assert ports == f"443/tcp, 127.0.0.1:{port}->80/tcp"
    deadline = time.monotonic() + 20
    body = b""
    while b"hello-dyn" not in body:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                body = b""
                while chunk := s.recv(65536):
                    body += chunk
        except OSError:
            pass
        if b"hello-dyn" in body or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert b"hello-dyn" in body, body
    # and to another container, at the server's address on the shared default bridge
    ip = cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).stdout.strip()
    r = cli("run", "--rm", "busybox", "sh", "-c",
            f"printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc {ip} 80", check=False)
    assert r.returncode == 0 and "hello-dyn" in r.stdout, (r.stdout, r.stderr)
    # a port already taken: docker's error, the container does not start
    r = cli("run", "-d", "--name", f"{names}-clash", "-p", f"127.0.0.1:{port}:80",
            "busybox", "sleep", "30", check=False)
    assert r.returncode == 125
    assert "port is already allocated" in r.stderr


def test_publish_all_and_run_flag_errors(cli, names):
    name = f"{names}-all"
    cli("run", "-d", "--name", name, "-P", "--expose", "8080", "busybox", "sleep", "300")
    lines = cli("port", name).stdout.splitlines()
    assert lines and all(line.startswith("8080/tcp -> ") for line in lines)
    host_port = int(lines[0].rsplit(":", 1)[1])
    assert 0 < host_port < 65536
    # As with dockerd, a missing network fails the start, not the create: the CLI takes a
    # 404 from create for a missing image and would try to pull it.
    r = cli("run", "--name", f"{names}-nonet-c", "--network", f"{names}-nonet", "busybox",
            "true", check=False)
    assert r.returncode == 125
    assert f"network {names}-nonet not found" in r.stderr
    assert "Unable to find image" not in r.stderr


def test_link_alias_on_a_user_network_is_for_the_linking_container_only(cli, names):
    net = f"{names}-links"
    cli("network", "create", net)
    server, client, other = f"{names}-db", f"{names}-app", f"{names}-other"
    cli("run", "-d", "--name", server, "--network", net, "busybox", "sleep", "300")
    cli("run", "-d", "--name", client, "--network", net, "--link", f"{server}:database",
        "busybox", "sleep", "300")
    cli("run", "-d", "--name", other, "--network", net, "busybox", "sleep", "300")
    ip = cli("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}",
             server).stdout.strip()
    r = _exec_retry(cli, client, "nslookup", "database")
    assert r.returncode == 0 and ip in r.stdout, r.stdout + r.stderr
    r = cli("exec", other, "nslookup", "database", check=False)
    assert r.returncode != 0, r.stdout
    cli("rm", "-f", server, client, other)
