"""``POST /commit`` in-process, with a fake engine hook that hands over a prepared
container snapshot on top of the bootstrapped busybox image."""

from __future__ import annotations

import asyncio
import os

import pytest

pytestmark = [pytest.mark.root]


def test_commit_through_hook(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root (device nodes in busybox)")
    from aiohttp.test_utils import TestClient, TestServer

    from dockyard.api.app import ApiContext, create_app
    from dockyard.api.hooks import CommitSource, EngineHooks
    from dockyard.daemon import DaemonConfig
    from dockyard.image.bootstrap_image import bootstrap_busybox
    from dockyard.image.store import ImageStore
    from dockyard.store.snapshots import chain_key

    store = ImageStore(tmp_path / "data", snapshotter="copy")
    try:
        image_id = bootstrap_busybox(store, "busybox:latest")
        image = store.resolve(image_id)
        layer = store.meta.get_layer(image.chain_ids[-1])
        parent = layer.snapshot_key if layer is not None else chain_key(image.chain_ids[-1])
        store.snapshots.prepare("ctr-1", parent)
        (store.snapshots.fs_path("ctr-1") / "committed.txt").write_text("hello\n")

        class Hooks(EngineHooks):
            def commit_source(self, container: str) -> CommitSource:
                if container != "web":
                    return super().commit_source(container)
                return CommitSource("c" * 64, "ctr-1", image_id,
                                    {"Cmd": ["cat", "/committed.txt"], "Env": ["A=1"]})

        ctx = ApiContext(config=DaemonConfig(data_root=tmp_path / "data"), store=store,
                         hooks=Hooks())

        async def go() -> None:
            async with TestClient(TestServer(create_app(ctx))) as client:
                r = await client.post("/v1.44/commit?container=web&repo=committed&tag=v1"
                                      "&comment=c1&author=me&changes=" + "LABEL%20x%3Dy")
                assert r.status == 201, await r.text()
                new_id = (await r.json())["Id"]
                assert new_id.startswith("sha256:") and new_id != image_id
                info = await (await client.get("/images/committed:v1/json")).json()
                assert info["Id"] == new_id
                assert info["Comment"] == "c1" and info["Author"] == "me"
                assert info["Config"]["Cmd"] == ["cat", "/committed.txt"]
                assert info["Config"]["Labels"] == {"x": "y"}
                assert len(info["RootFS"]["Layers"]) == len(image.diff_ids) + 1
                r = await client.post("/commit?container=other")
                assert r.status == 404
                assert (await r.json())["message"] == "No such container: other"
                r = await client.post("/commit?container=web", data=b"{bad json")
                assert r.status == 400

        asyncio.run(go())
        store.snapshots.remove("ctr-1")
    finally:
        store.close()
