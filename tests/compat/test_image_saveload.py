"""`save` and `load` against podman: our archive loads in `podman load`, and what
`podman save` writes loads here, with the same image ID and tags."""

from __future__ import annotations

import pytest
from test_podman import podman  # noqa: F401 - the fixture, with private storage

from dockyard.image.bootstrap_image import bootstrap_busybox
from dockyard.image.store import ImageStore
from dockyard.image.tarexport import ArchiveFormatError, load, save

pytestmark = [pytest.mark.compat, pytest.mark.root]


@pytest.fixture
def store(tmp_path):
    opened = ImageStore(tmp_path / "store")
    yield opened
    opened.close()


def test_our_save_loads_in_podman(store, podman, tmp_path):  # noqa: F811
    image_id = bootstrap_busybox(store, "dockyard-saved/busybox:1")
    archive = tmp_path / "saved.tar"
    with open(archive, "wb") as out:
        save(store, ["dockyard-saved/busybox:1"], out)
    loaded = podman("load", "-i", archive, check=True)
    assert "dockyard-saved/busybox:1" in loaded.stdout + loaded.stderr
    images = podman("images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}",
                    check=True).stdout
    assert f"{image_id.removeprefix('sha256:')} docker.io/dockyard-saved/busybox:1" in images


def test_podman_save_loads_here(store, podman, tmp_path):  # noqa: F811
    archive = tmp_path / "podman.tar"
    podman("tag", "localhost/dockyard-test-busybox:latest", "localhost/frompodman:2",
           check=True)
    podman("save", "-o", archive, "localhost/frompodman:2", check=True)
    inspect = podman("image", "inspect", "--format", "{{.ID}}", "localhost/frompodman:2",
                     check=True).stdout.strip()
    with open(archive, "rb") as source:
        report = load(store, source)
    assert report == ["Loaded image: localhost/frompodman:2"]
    image = store.resolve("localhost/frompodman:2")
    assert image.id == "sha256:" + inspect
    assert (store.snapshots.fs_path(image.chain_ids[-1]) / "bin" / "busybox").exists()


def test_save_then_load_round_trip_and_bad_archives(store, tmp_path):
    image_id = bootstrap_busybox(store, "busybox:latest")
    archive = tmp_path / "round.tar"
    with open(archive, "wb") as out:
        save(store, ["busybox"], out)
    other = ImageStore(tmp_path / "other")
    try:
        with open(archive, "rb") as source:
            assert load(other, source) == ["Loaded image: busybox:latest"]
        assert other.resolve("busybox").id == image_id
        garbage = tmp_path / "garbage.tar"
        import tarfile

        with tarfile.open(garbage, "w") as tar:
            tar.add(archive, arcname="not-a-manifest")
        with open(garbage, "rb") as source, pytest.raises(ArchiveFormatError):
            load(other, source)
    finally:
        other.close()
