"""The image store against real peers: dockyard pushes and pulls through Debian's
docker-registry; skopeo reads what we push and pushes what we pull; the unpacked root
filesystem equals `umoci unpack` of the same image; a pull killed mid-way completes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.distribution import RegistryClient
from dockyard.image.bootstrap_image import bootstrap_busybox
from dockyard.image.progress import ProgressEvent
from dockyard.image.pull import pull
from dockyard.image.push import push
from dockyard.image.store import ImageNotFound, ImageStore
from registry_server import require, run_registry

pytestmark = [pytest.mark.compat, pytest.mark.root]


@pytest.fixture
def registry(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("needs root (overlay snapshots, device nodes)")
    with run_registry(tmp_path) as reg:
        yield reg


@pytest.fixture
def stores(tmp_path: Path):
    opened: list[ImageStore] = []

    def make(name: str) -> ImageStore:
        store = ImageStore(tmp_path / name)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def run(coro):
    return asyncio.run(coro)


async def _push(store: ImageStore, ref: str, host: str, events: list | None = None) -> str:
    async with RegistryClient(host) as client:
        return await push(store, ref, client,
                          progress=(events.append if events is not None else lambda e: None))


async def _pull(store: ImageStore, ref: str, host: str, events: list | None = None):
    async with RegistryClient(host) as client:
        return await pull(store, ref, client,
                          progress=(events.append if events is not None else lambda e: None))


def random_image(store: ImageStore, rootfs: Path, size_mib: int, tag: str) -> Path:
    """A one-layer image holding `size_mib` MiB of incompressible data in /blob."""
    from dockyard.image.config import RunConfig, new_image_config
    from dockyard.image.local import add_layer, register_image
    from dockyard.store.archive import write_tree

    rootfs.mkdir()
    (rootfs / "blob").write_bytes(os.urandom(size_mib << 20))
    with store.meta.lease() as lease:
        layer, diff_id = add_layer(store, lambda out: write_tree(rootfs, out), lease)
        config = new_image_config(architecture="amd64", diff_ids=[diff_id],
                                  config=RunConfig(cmd=["true"]))
        register_image(store, config, [layer], [tag], lease)
    return rootfs


def tree(root: Path) -> dict[str, tuple]:
    """What a rootfs holds: type, mode, owner, size and link target of every entry."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            key = str(path.relative_to(root))
            target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            found[key] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                          st.st_gid, size, target)
    return found


def test_push_then_skopeo_reads_the_same_digests(registry, stores, tmp_path):
    require("skopeo")
    store = stores("a")
    bootstrap_busybox(store, "busybox:latest")
    ref = f"{registry.host}/library/busybox:latest"
    store.tag("busybox:latest", ref)
    events: list[ProgressEvent] = []
    digest = run(_push(store, ref, registry.host, events))
    statuses = [e.status for e in events]
    assert "Pushed" in statuses and statuses[-1].startswith("latest: digest: " + digest)
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
                         check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["Digest"] == digest
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                         check=True, capture_output=True).stdout
    image = store.resolve("busybox:latest")
    assert raw == store.read_blob(image.manifest_digest)
    # A second push finds every blob there already.
    events.clear()
    assert run(_push(store, ref, registry.host, events)) == digest
    assert "Layer already exists" in [e.status for e in events]


def test_pull_what_skopeo_pushed_equals_umoci_unpack(registry, stores, tmp_path):
    require("skopeo", "umoci")
    source = stores("source")
    bootstrap_busybox(source, "busybox:latest")
    first = f"{registry.host}/library/busybox:latest"
    source.tag("busybox:latest", first)
    run(_push(source, first, registry.host))
    # skopeo copies it to another repository, re-encoding nothing; we pull that copy.
    second = f"{registry.host}/mirror/busybox:1"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                    f"docker://{first}", f"docker://{second}"], check=True,
                   capture_output=True)
    store = stores("b")
    events: list[ProgressEvent] = []
    image = run(_pull(store, second, registry.host, events))
    statuses = [e.status for e in events]
    assert "Pull complete" in statuses
    assert statuses[-1] == f"Status: Downloaded newer image for {second}"
    layout = tmp_path / "layout"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{second}",
                    f"oci:{layout}:busybox"], check=True, capture_output=True)
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:busybox", str(bundle)],
                   check=True, capture_output=True)
    ours = tree(store.snapshots.fs_path(image.chain_ids[-1]))
    theirs = tree(bundle / "rootfs")
    assert ours == theirs
    # Pulling again changes nothing and says so.
    events.clear()
    run(_pull(store, second, registry.host, events))
    statuses = [e.status for e in events]
    assert "Already exists" in statuses
    assert statuses[-1] == f"Status: Image is up to date for {second}"


def test_local_operations(registry, stores):
    store = stores("c")
    image_id = bootstrap_busybox(store, "busybox:latest")
    assert store.resolve("busybox").id == image_id
    assert store.resolve(image_id.removeprefix("sha256:")[:12]).id == image_id
    store.tag("busybox", "example.com/tools/busybox:1")
    inspect = store.inspect("busybox:latest")
    assert inspect["Id"] == image_id
    assert sorted(inspect["RepoTags"]) == ["busybox:latest", "example.com/tools/busybox:1"]
    assert inspect["Config"]["Cmd"] == ["sh"]
    history = store.history("busybox")
    assert history[0]["Id"] == image_id and history[0]["CreatedBy"] == 'CMD ["sh"]'
    assert [s["Id"] for s in store.list()] == [image_id]
    assert store.remove("busybox:latest") == [{"Untagged": "busybox:latest"}]
    report = store.remove("example.com/tools/busybox:1")
    assert {"Deleted": image_id} in report
    with pytest.raises(ImageNotFound):
        store.resolve("busybox")
    result = store.collect_garbage()
    assert result.bytes_reclaimed > 0
    assert not list(store.content.walk())


PULL_SCRIPT = """
import asyncio, sys
from dockyard.distribution import RegistryClient
from dockyard.image.pull import pull
from dockyard.image.store import ImageStore

async def main():
    store = ImageStore(sys.argv[1])
    async with RegistryClient(sys.argv[3]) as client:
        def progress(event):
            if event.status == "Downloading":
                print("downloading", flush=True)
        await pull(store, sys.argv[2], client, progress=progress)
    print("done", flush=True)

asyncio.run(main())
"""


def test_a_pull_killed_midway_completes_on_retry(registry, stores, tmp_path):
    source = stores("big")
    # A layer big enough to be caught downloading: 64 MiB of incompressible data.
    rootfs = random_image(source, tmp_path / "bigroot", 64, "big:1")
    ref = f"{registry.host}/test/big:1"
    source.tag("big:1", ref)
    run(_push(source, ref, registry.host))
    target = tmp_path / "victim"
    process = subprocess.Popen([sys.executable, "-c", PULL_SCRIPT, str(target), ref,
                                registry.host], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "downloading"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    store = stores("victim")
    with pytest.raises(ImageNotFound):
        store.resolve(ref)
    image = run(_pull(store, ref, registry.host))
    data = (store.snapshots.fs_path(image.chain_ids[-1]) / "blob").read_bytes()
    assert data == (rootfs / "blob").read_bytes()
    for digest, _ in store.content.walk():
        store.content.verify(digest)


def test_push_and_pull_with_basic_auth_from_docker_config(stores, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from dockyard.distribution import AuthenticationError
    from dockyard.distribution.credentials import (
        AuthConfig,
        credential_lookup,
        store_credentials,
    )

    config_file = tmp_path / "docker" / "config.json"
    with run_registry(tmp_path, htpasswd={"alice": "secret"}, name="auth") as reg:
        store = stores("auth")
        bootstrap_busybox(store, "busybox:latest")
        ref = f"{reg.host}/private/busybox:latest"
        store.tag("busybox", ref)

        async def push_with(credentials):
            async with RegistryClient(reg.host, credentials=credentials) as client:
                return await push(store, ref, client)

        with pytest.raises(AuthenticationError):
            run(push_with(None))
        store_credentials(reg.host, AuthConfig(username="alice", password="secret"),
                          config_file)
        digest = run(push_with(credential_lookup(config_file)))

        async def pull_with(target: ImageStore):
            async with RegistryClient(reg.host,
                                      credentials=credential_lookup(config_file)) as client:
                return await pull(target, ref, client)

        target = stores("auth-pull")
        pulled = run(pull_with(target))
        assert pulled.id == store.resolve("busybox").id
        assert target.resolve(f"{ref.rsplit(':', 1)[0]}@{digest}").id == pulled.id


PUSH_SCRIPT = """
import asyncio, sys
from dockyard.distribution import RegistryClient
from dockyard.image.push import push
from dockyard.image.store import ImageStore

async def main():
    store = ImageStore(sys.argv[1])
    async with RegistryClient(sys.argv[3]) as client:
        def progress(event):
            if event.status == "Pushing":
                print("pushing", flush=True)
        await push(store, sys.argv[2], client, progress=progress)
    print("done", flush=True)

asyncio.run(main())
"""


def test_a_push_killed_midway_completes_on_retry(registry, stores, tmp_path):
    require("skopeo")
    source = stores("pushsrc")
    random_image(source, tmp_path / "pushroot", 48, "big:2")
    ref = f"{registry.host}/test/pushed:1"
    source.tag("big:2", ref)
    source.close()
    process = subprocess.Popen([sys.executable, "-c", PUSH_SCRIPT, str(tmp_path / "pushsrc"),
                                ref, registry.host], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "pushing"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    reopened = ImageStore(tmp_path / "pushsrc")
    try:
        digest = run(_push(reopened, ref, registry.host))
    finally:
        reopened.close()
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
                         check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["Digest"] == digest


def test_pull_over_a_loaded_copy_fetches_the_registry_blobs(registry, stores, tmp_path):
    """Layers unpacked from a `load` (blobs compressed here) are reused by a pull, but
    the registry's blobs are fetched too, so that pushing the pulled image works."""
    import io

    from dockyard.image.tarexport import load, save

    source = stores("origin")
    bootstrap_busybox(source, "busybox:latest")
    ref = f"{registry.host}/library/busybox:latest"
    source.tag("busybox", ref)
    run(_push(source, ref, registry.host))
    archive = io.BytesIO()
    save(source, ["busybox"], archive)
    archive.seek(0)
    target = stores("loaded")
    load(target, archive)
    image = run(_pull(target, ref, registry.host))
    manifest = target.manifest_of(image)
    assert all(target.content.exists(layer.digest) for layer in manifest.layers)
    other = f"{registry.host}/copies/busybox:1"
    target.tag(ref, other)
    run(_push(target, other, registry.host))
