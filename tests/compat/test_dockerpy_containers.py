"""docker-py against dockyardd: containers.run (attached and detached), logs(stream=True),
wait, kill, remove. busybox is seeded into the daemon's data root; hermetic as
test_api_containers_support.container_daemon."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_api_containers_support import container_daemon, usable

pytestmark = [pytest.mark.compat, pytest.mark.root]

docker = pytest.importorskip("docker")


@pytest.fixture(scope="module")
def client():
    if (why := usable()) is not None:
        pytest.skip(why)
    with container_daemon() as d:
        c = docker.DockerClient(base_url=d.url, version="auto", timeout=60)
        try:
            yield c
        finally:
            c.close()


def test_run_echo(client):
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"


def test_run_nonzero_raises(client):
    with pytest.raises(docker.errors.ContainerError) as err:
        client.containers.run("busybox", ["sh", "-c", "exit 3"], remove=True)
    assert err.value.exit_status == 3


def test_detached_logs_wait_kill_remove(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo a; echo b; sleep 300"],
                              detach=True, name="dyc-py-d")
    try:
        lines = []
        for chunk in c.logs(stream=True):
            lines.append(chunk)
            if b"".join(lines) == b"a\nb\n":
                break
        assert b"".join(lines) == b"a\nb\n"
        c.reload()
        assert c.status == "running" and c.name == "dyc-py-d"
        assert c.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        assert c.image.id.startswith("sha256:")
        assert [x.id for x in client.containers.list(filters={"name": "dyc-py-d"})] == [c.id]
        c.kill()
        assert c.wait(timeout=30) == {"StatusCode": 137, "Error": None}
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("dyc-py-d")


def test_attach_socket_and_stop(client):
    c = client.containers.create("busybox", ["sh", "-c", "echo ready; sleep 300"])
    try:
        c.start()
        c.stop(timeout=1)
        assert c.wait(timeout=30)["StatusCode"] == 137
        assert c.logs() == b"ready\n"
    finally:
        c.remove(force=True)


def test_attach_logs_without_stream(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo x; echo y >&2"], detach=True)
    try:
        assert c.wait(timeout=30)["StatusCode"] == 0
        out = c.attach(stdout=True, stderr=True, logs=True, stream=False)
        assert out == b"x\ny\n"
        assert client.api.attach(c.id, stdout=True, stderr=False, logs=True) == b"x\n"
    finally:
        c.remove(force=True)
