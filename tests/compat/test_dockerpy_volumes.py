"""docker-py against dockyardd: client.volumes create/get/list/remove/prune and
containers.run(volumes={...}). Hermetic as test_api_containers_support.container_daemon."""

from __future__ import annotations

import os
import secrets

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]

docker = pytest.importorskip("docker")


@pytest.fixture(scope="module")
def client(client, daemon):
    """conftest's ``client``; at the end no volume may be left, in the API or on disk."""
    yield client
    client.volumes.prune(filters={"all": "true"})
    assert client.volumes.list() == []
    assert os.listdir(daemon.d.dir / "data" / "volumes") == []


def test_volumes_api(client):
    name = f"dyp-{secrets.token_hex(4)}"
    vol = client.volumes.create(name, labels={"a": "b"})
    assert vol.name == name and vol.attrs["Labels"] == {"a": "b"}
    assert client.volumes.get(name).attrs["Mountpoint"] == vol.attrs["Mountpoint"]
    assert [v.name for v in client.volumes.list(filters={"label": "a=b"})] == [name]
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("no-such-volume")
    with pytest.raises(docker.errors.APIError) as err:
        client.volumes.create("bad/name")
    assert err.value.status_code == 400
    vol.remove()
    assert client.volumes.list() == []


def test_run_with_volumes(client):
    name = f"dyp-{secrets.token_hex(4)}"
    out = client.containers.run("busybox", ["sh", "-c", "echo one > /data/f; cat /data/f"],
                                volumes={name: {"bind": "/data", "mode": "rw"}}, remove=True)
    assert out == b"one\n"
    out = client.containers.run("busybox", ["cat", "/data/f"], volumes=[f"{name}:/data:ro"],
                                remove=True)
    assert out == b"one\n"
    c = client.containers.create("busybox", "true", volumes={name: {"bind": "/d"}})
    with pytest.raises(docker.errors.APIError) as err:
        client.volumes.get(name).remove()
    assert err.value.status_code == 409
    mounts = c.attrs["Mounts"]
    assert mounts[0]["Name"] == name and mounts[0]["Type"] == "volume"
    c.remove(v=True)
    report = client.volumes.prune()
    assert report["VolumesDeleted"] is None  # only anonymous volumes by default
    report = client.volumes.prune(filters={"all": "true"})
    assert report["VolumesDeleted"] == [name]
