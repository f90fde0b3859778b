"""docker-py against dockyardd: client.networks.create/get/list/prune, Network.connect/
disconnect/remove/containers, errors as docker-py's exception classes, containers.run with
``network=``, ``ports=`` (busybox httpd reachable from the host) and ``publish_all_ports``.

Hermetic as test_api_containers_support.container_daemon; every test removes its
containers and networks."""

from __future__ import annotations

import secrets
import socket
import time

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]

docker = pytest.importorskip("docker")


@pytest.fixture
def prefix(client):
    p = f"dyp{secrets.token_hex(3)}"
    yield p
    for c in client.containers.list(all=True, filters={"name": p}):
        c.remove(force=True)
    for n in client.networks.list(names=None):
        if n.name.startswith(p):
            n.remove()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_create_get_list_remove(client, prefix):
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
        subnet="10.252.4.0/24", gateway="10.252.4.1", iprange="10.252.4.128/25")])
    net = client.networks.create(f"{prefix}-a", driver="bridge", ipam=ipam,
                                 labels={"dyp": prefix}, internal=True, attachable=True,
                                 check_duplicate=True)
    assert net.name == f"{prefix}-a" and len(net.id) == 64
    assert net.attrs["Internal"] is True and net.attrs["Attachable"] is True
    assert net.attrs["IPAM"]["Config"] == [{"Subnet": "10.252.4.0/24",
                                            "IPRange": "10.252.4.128/25",
                                            "Gateway": "10.252.4.1"}]
    assert client.networks.get(net.id[:12]).name == f"{prefix}-a"
    assert client.networks.get(f"{prefix}-a", verbose=True, scope="local").id == net.id
    assert [n.id for n in client.networks.list(names=[f"{prefix}-a"])] == [net.id]
    assert [n.id for n in client.networks.list(ids=[net.id])] == [net.id]
    assert [n.id for n in client.networks.list(filters={"label": f"dyp={prefix}"})] == [
        net.id]
    greedy = client.networks.list(names=[f"{prefix}-a"], greedy=True)
    assert greedy[0].attrs["Containers"] == {}
    assert {"bridge", "host", "none"} <= {n.name for n in client.networks.list()}
    with pytest.raises(docker.errors.APIError) as err:
        client.networks.create(f"{prefix}-a")
    assert err.value.status_code == 409
    net.remove()
    with pytest.raises(docker.errors.NotFound):
        client.networks.get(f"{prefix}-a")
    with pytest.raises(docker.errors.APIError) as err:
        client.networks.get("bridge").remove()
    assert err.value.status_code == 403
    with pytest.raises(docker.errors.NotFound):
        client.networks.create(f"{prefix}-x", driver="nosuchdriver")


def test_connect_disconnect_containers(client, prefix):
    net = client.networks.create(f"{prefix}-c", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet="10.252.5.0/24")]))
    c = client.containers.run("busybox", ["sleep", "300"], detach=True,
                              name=f"{prefix}-one")
    net.connect(c, aliases=["one-alias"], ipv4_address="10.252.5.50")
    net.reload()
    assert [x.id for x in net.containers] == [c.id]
    assert net.attrs["Containers"][c.id]["IPv4Address"] == "10.252.5.50/24"
    c.reload()
    ep = c.attrs["NetworkSettings"]["Networks"][f"{prefix}-c"]
    assert ep["IPAddress"] == "10.252.5.50" and "one-alias" in ep["Aliases"]
    assert [x.id for x in client.containers.list(filters={"network": f"{prefix}-c"})] == [
        c.id]
    with pytest.raises(docker.errors.APIError):
        net.remove()  # active endpoint
    net.disconnect(c, force=True)
    net.reload()
    assert net.containers == []
    c.reload()
    assert set(c.attrs["NetworkSettings"]["Networks"]) == {"bridge"}
    with pytest.raises(docker.errors.NotFound):
        net.connect(f"{prefix}-nobody")


def test_prune(client, prefix):
    keep = client.networks.create(f"{prefix}-keep", labels={"dyp": prefix, "keep": "1"})
    gone = client.networks.create(f"{prefix}-gone", labels={"dyp": prefix})
    used = client.networks.create(f"{prefix}-used", labels={"dyp": prefix})
    client.containers.run("busybox", ["sleep", "300"], detach=True, name=f"{prefix}-user",
                          network=used.name)
    report = client.networks.prune(filters={"label": f"dyp={prefix}", "label!": "keep=1"})
    assert report == {"NetworksDeleted": [gone.name]}
    names = {n.name for n in client.networks.list()}
    assert keep.name in names and used.name in names and gone.name not in names


def test_run_on_network_by_name_and_ports(client, prefix):
    net = client.networks.create(f"{prefix}-web")
    port = free_port()
    web = client.containers.run(
        "busybox", ["sh", "-c", "mkdir -p /www && echo hello-dyp > /www/index.html && "
                                "exec httpd -f -p 80 -h /www"],
        detach=True, name=f"{prefix}-httpd", network=net.name,
        ports={"80/tcp": ("127.0.0.1", port)})
    web.reload()
    assert web.ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert set(web.attrs["NetworkSettings"]["Networks"]) == {net.name}
    deadline = time.monotonic() + 20
    body = b""
    while b"hello-dyp" not in body and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                body = b""
                while chunk := s.recv(65536):
                    body += chunk
        except OSError:
            time.sleep(0.1)
    assert b"hello-dyp" in body
    # another container on the network reaches it by name through the embedded DNS
    out = client.containers.run("busybox", ["nslookup", f"{prefix}-httpd"], remove=True,
                                network=net.name)
    ip = web.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
    assert ip.encode() in out


def test_publish_all_ports(client, prefix):
    c = client.containers.run("busybox", ["sleep", "300"], detach=True,
                              name=f"{prefix}-all", ports={"8080/tcp": None},
                              publish_all_ports=True)
    c.reload()
    bindings = c.ports["8080/tcp"]
    assert bindings and all(int(b["HostPort"]) > 0 for b in bindings)
