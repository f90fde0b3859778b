"""RegistryClient against a real peer: Debian's docker-registry (CNCF distribution 2.8), and
skopeo reading what we push and pushing what we read.

Each test module starts its own registry on 127.0.0.1 with a random port and a private
storage directory (see ``tests/registry_server.py``); repositories are per test.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from dockyard.distribution import NotFound, RegistryClient, RegistryError, RetryPolicy
from registry_server import (
    ACCEPT,
    OCI_MANIFEST,
    make_image,
    pieces,
    push,
    read_all,
    require,
    run_registry,
    sha,
)

pytestmark = pytest.mark.compat

FAST = RetryPolicy(retries=2, base_delay=0.01)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with run_registry(tmp_path_factory.mktemp("reg")) as reg:
        yield reg


def client(registry, **kw) -> RegistryClient:
    kw.setdefault("retries", FAST)
    return RegistryClient(registry.host, **kw)


def test_ping(registry):
    async def go():
        async with client(registry) as c:
            await c.ping()
            assert [e.url for e in c.endpoints] == [registry.url]  # loopback: plain HTTP

    run(go())


@pytest.mark.parametrize(("size", "chunk_size"), [
    (0, None), (100, None), (300_000, None), (1_000_000, 65536), (200_000, 1 << 20),
    (5, 1),
])
def test_upload_exists_download(registry, size, chunk_size):
    data = os.urandom(size)
    digest = sha(data)
    repo = f"up/s{size}-c{chunk_size or 0}"

    async def go():
        async with client(registry) as c:
            assert await c.blob_exists(repo, digest) is None
            assert await c.upload_blob(repo, digest, size, pieces(data, 7000),
                                       chunk_size=chunk_size) == digest
            assert await c.blob_exists(repo, digest) == size
            assert await read_all(c.open_blob(repo, digest)) == data
            if size:
                offset = size // 3
                stream = c.open_blob(repo, digest, offset)
                assert await read_all(stream) == data[offset:]
                assert stream.size == size

    run(go())


def test_wrong_digest_is_refused_by_the_registry(registry):
    data = os.urandom(200_000)

    async def go():
        async with client(registry) as c:
            with pytest.raises(RegistryError) as err:
                await c.upload_blob("up/bad", sha(b"other"), len(data), pieces(data))
            assert err.value.status == 400 and "DIGEST_INVALID" in err.value.codes
            assert await c.blob_exists("up/bad", sha(b"other")) is None

    run(go())


def open_uploads(registry, repo: str) -> list[Path]:
    """Upload sessions still open in the registry's storage.

    A cancelled (DELETEd) session loses its ``startedat`` and ``data`` files; distribution
    2.8 leaves only an empty ``hashstates`` tree behind.
    """
    uploads = registry.dir / "data/docker/registry/v2/repositories" / repo / "_uploads"
    return [p for p in uploads.glob("*/startedat")]


def test_cancelled_upload_leaves_no_session(registry):
    repo = "up/cancelled"

    async def go():
        sent = asyncio.Event()

        async def stalled():
            yield os.urandom(100_000)
            sent.set()
            await asyncio.sleep(3600)
            yield b""

        async with client(registry) as c:
            task = asyncio.create_task(c.upload_blob(repo, sha(b"x"), 1_000_000, stalled(),
                                                     chunk_size=100_000))
            await sent.wait()
            await asyncio.sleep(0.2)  # let the first PATCH land
            assert len(open_uploads(registry, repo)) == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(go())
    assert open_uploads(registry, repo) == []


def test_cross_repository_mount(registry):
    data = os.urandom(50_000)
    digest = sha(data)

    async def go():
        async with client(registry) as c:
            await c.upload_blob("mount/src", digest, len(data), pieces(data))
            assert await c.blob_exists("mount/dst", digest) is None
            assert await c.mount_blob("mount/dst", digest, "mount/src") is True
            assert await c.blob_exists("mount/dst", digest) == len(data)
            assert await c.mount_blob("mount/dst2", sha(b"unknown"), "mount/src") is False

    run(go())
    assert open_uploads(registry, "mount/dst2") == []


def test_manifest_by_tag_and_digest(registry):
    image = make_image()
    repo = "img/hello"

    async def go():
        async with client(registry) as c:
            digest = await push(c, repo, image)
            assert digest == image.digest
            by_tag = await c.get_manifest(repo, "v1", ACCEPT)
            by_digest = await c.get_manifest(repo, digest, ACCEPT)
            for m in (by_tag, by_digest):
                assert (m.data, m.media_type, m.digest) == (image.manifest, OCI_MANIFEST, digest)
            info = await c.head_manifest(repo, "v1", ACCEPT)
            assert (info.media_type, info.digest, info.size) == (OCI_MANIFEST, digest,
                                                                 len(image.manifest))
            # Pushing by digest, then tagging the same bytes again.
            assert await c.put_manifest(repo, digest, image.manifest, OCI_MANIFEST) == digest
            assert await c.put_manifest(repo, "v2", image.manifest, OCI_MANIFEST) == digest
            assert sorted(await c.list_tags(repo)) == ["v1", "v2"]
            for d, data in image.blobs.items():
                assert await read_all(c.open_blob(repo, d)) == data

    run(go())


def test_manifest_with_missing_blob_is_refused(registry):
    image = make_image("orphan\n")

    async def go():
        async with client(registry) as c:
            with pytest.raises(RegistryError) as err:
                await c.put_manifest("img/orphan", "v1", image.manifest, OCI_MANIFEST)
            assert err.value.status == 400
            assert "MANIFEST_BLOB_UNKNOWN" in err.value.codes
            assert str(err.value).startswith("manifest blob unknown: ")

    run(go())


def test_delete_manifest(registry):
    image = make_image("to be deleted\n")
    repo = "img/deleted"

    async def go():
        async with client(registry) as c:
            digest = await push(c, repo, image)
            await c.delete_manifest(repo, digest)
            with pytest.raises(NotFound) as err:
                await c.get_manifest(repo, digest, ACCEPT)
            assert err.value.codes == ("MANIFEST_UNKNOWN",)
            with pytest.raises(NotFound):
                await c.delete_manifest(repo, digest)
            await c.delete_blob(repo, sha(image.layer))
            assert await c.blob_exists(repo, sha(image.layer)) is None

    run(go())


def test_not_found_codes(registry):
    async def go():
        async with client(registry) as c:
            with pytest.raises(NotFound) as err:
                await c.get_manifest("nothing/here", "latest", ACCEPT)
            assert err.value.codes == ("MANIFEST_UNKNOWN",)
            assert str(err.value) == "manifest unknown: manifest unknown"
            assert (err.value.repository, err.value.reference) == ("nothing/here", "latest")
            with pytest.raises(NotFound) as err:
                await c.head_manifest("nothing/here", "latest", ACCEPT)
            assert err.value.codes == ("MANIFEST_UNKNOWN",)
            with pytest.raises(NotFound) as err:
                await read_all(c.open_blob("nothing/here", sha(b"nope")))
            assert err.value.codes == ("BLOB_UNKNOWN",)
            assert str(err.value) == "blob unknown: blob unknown to registry"
            with pytest.raises(NotFound) as err:
                await c.list_tags("nothing/here")
            assert err.value.codes == ("NAME_UNKNOWN",)
            assert str(err.value) == "name unknown: repository name not known to registry"

    run(go())


# --- skopeo --------------------------------------------------------------------------------


def skopeo(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    require("skopeo")
    (tmp / "registries.conf").write_text("")
    (tmp / "policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    env = {**os.environ, "HOME": str(tmp), "XDG_RUNTIME_DIR": str(tmp),
           "REGISTRY_AUTH_FILE": str(tmp / "auth.json"),
           "CONTAINERS_REGISTRIES_CONF": str(tmp / "registries.conf")}
    proc = subprocess.run(["skopeo", "--policy", str(tmp / "policy.json"), *args], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_skopeo_inspects_what_we_push(registry, tmp_path):
    image = make_image("for skopeo\n")
    repo = "interop/pushed"

    async def go():
        async with client(registry) as c:
            return await push(c, repo, image, tag="latest")

    digest = run(go())
    ref = f"docker://{registry.host}/{repo}:latest"
    out = json.loads(skopeo(tmp_path, "inspect", "--tls-verify=false", "--no-creds", ref).stdout)
    assert out["Digest"] == digest
    assert out["Layers"] == [sha(image.layer)]
    assert (out["Architecture"], out["Os"]) == ("amd64", "linux")
    raw = skopeo(tmp_path, "inspect", "--raw", "--tls-verify=false", "--no-creds", ref).stdout
    assert raw.encode() == image.manifest
    # skopeo copies it out into an OCI layout with every digest unchanged.
    layout = tmp_path / "layout"
    skopeo(tmp_path, "copy", "--src-tls-verify=false", "--src-no-creds", ref,
           f"oci:{layout}:latest")
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    for d, data in image.blobs.items():
        assert (layout / "blobs/sha256" / d.split(":")[1]).read_bytes() == data


def test_we_pull_what_skopeo_pushes(registry, tmp_path):
    image = make_image("pushed by skopeo\n")
    layout = tmp_path / "layout"
    (layout / "blobs/sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    for data in (image.config, image.layer, image.manifest):
        (layout / "blobs/sha256" / sha(data).split(":")[1]).write_bytes(data)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": image.digest, "size": len(image.manifest),
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
    repo = "interop/skopeo"
    skopeo(tmp_path, "copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-no-creds",
           f"oci:{layout}:v1", f"docker://{registry.host}/{repo}:v1")

    async def go():
        async with client(registry) as c:
            m = await c.get_manifest(repo, "v1", ACCEPT)
            assert (m.digest, m.data) == (image.digest, image.manifest)
            for d, data in image.blobs.items():
                assert await c.blob_exists(repo, d) == len(data)
                assert await read_all(c.open_blob(repo, d)) == data

    run(go())
