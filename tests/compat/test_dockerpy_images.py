"""docker-py (PyPI ``docker``) against dockyardd: version negotiation, info, and the
image operations, pulling from a loopback registry seeded with busybox."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_api_support import running_daemon, seed_registry

docker = pytest.importorskip("docker")

pytestmark = [pytest.mark.compat, pytest.mark.root]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from registry_server import run_registry

    base = tmp_path_factory.mktemp("reg")
    with run_registry(base) as reg:
        seed_registry(reg.host, base, [f"{reg.host}/library/busybox:latest"])
        yield reg


@pytest.fixture(scope="module")
def client(registry):
    with running_daemon() as d:
        c = docker.DockerClient(base_url=d.url, version="auto", timeout=60)
        try:
            yield c
        finally:
            c.close()


def test_version_and_info(client):
    v = client.version()
    assert v["ApiVersion"] == "1.44"
    assert client.api.api_version == "1.44"
    assert client.ping() is True
    info = client.info()
    assert info["ExperimentalBuild"] is False and info["OSType"] == "linux"


def test_images_roundtrip(client, registry, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        repo = f"{registry.host}/library/busybox"
        image = client.images.pull(repo, tag="latest")
        assert image.id.startswith("sha256:")
        assert f"{repo}:latest" in image.tags
        assert any(i.id == image.id for i in client.images.list())
        assert [i.id for i in client.images.list(name=repo)] == [image.id]
        got = client.images.get(f"{repo}:latest")
        assert got.tag("dockerpy/copy", "v1") is True
        assert "dockerpy/copy:v1" in client.images.get(image.id).tags
        assert got.attrs["Config"] is not None and got.history()
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get("nope:nope")

        tarball = tmp_path / "saved.tar"
        with open(tarball, "wb") as out:
            for chunk in client.images.get("dockerpy/copy:v1").save(named=True):
                out.write(chunk)
        client.images.remove("dockerpy/copy:v1")
        assert "dockerpy/copy:v1" not in client.images.get(image.id).tags
        client.images.remove(image.id, force=True)
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(image.id)
        loaded = client.images.load(tarball.read_bytes())
        assert [i.id for i in loaded] == [image.id]
        # save(named=True) names the archive with the image's first tag
        assert loaded[0].tags and loaded[0].tags[0] in (f"{repo}:latest", "dockerpy/copy:v1")

        # push back to the registry under a new name and pull it again
        client.images.get(image.id).tag(f"{registry.host}/dockerpy/pushed", "p1")
        out = client.images.push(f"{registry.host}/dockerpy/pushed", tag="p1")
        assert "error" not in out, out
        client.images.remove(f"{registry.host}/dockerpy/pushed:p1")
        again = client.images.pull(f"{registry.host}/dockerpy/pushed", tag="p1")
        assert again.id == image.id

        with pytest.raises(docker.errors.APIError):
            client.images.pull(f"{registry.host}/library/nothing", tag="x")
        df = client.df()
        assert image.id in [i["Id"] for i in df["Images"]]
        pruned = client.images.prune(filters={"dangling": True})
        assert "SpaceReclaimed" in pruned
