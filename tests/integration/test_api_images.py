"""The images resource of dockyardd over raw HTTP: pull from a loopback registry (seeded
with busybox by a separate store), list/filters, inspect, history, tag, push, save/load,
import, remove, prune, and Docker's errors."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from urllib.parse import quote

import pytest
from test_api_support import running_daemon, seed_registry

pytestmark = [pytest.mark.root]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from registry_server import run_registry

    base = tmp_path_factory.mktemp("reg")
    with run_registry(base) as reg:
        seed_registry(reg.host, base, [f"{reg.host}/library/busybox:latest",
                                       f"{reg.host}/tools/busybox:1.0"])
        yield reg


@pytest.fixture(scope="module")
def daemon(registry):
    with running_daemon() as d:
        yield d


def auth_header(**fields) -> dict:
    return {"X-Registry-Auth": base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()}


def pull(daemon, image: str, tag: str = "latest", **kw):
    return daemon.request("POST", f"/v1.44/images/create?fromImage={quote(image)}&tag={tag}",
                          headers=auth_header(), **kw)


def test_pull_stream(daemon, registry):
    r = pull(daemon, f"{registry.host}/library/busybox")
    assert r.status == 200, r.body
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Transfer-Encoding"] == "chunked"
    msgs = r.stream()
    assert msgs[0] == {"status": f"Pulling from {registry.host}/library/busybox",
                       "id": "latest"}
    statuses = [m.get("status", "") for m in msgs]
    assert "Pulling fs layer" in statuses
    assert any(s.startswith("Digest: sha256:") for s in statuses)
    assert statuses[-1] == ("Status: Downloaded newer image for "
                            f"{registry.host}/library/busybox:latest")
    assert not any("error" in m for m in msgs)
    again = pull(daemon, f"{registry.host}/library/busybox").stream()
    assert again[-1]["status"].startswith("Status: Image is up to date for")


def test_pull_errors(daemon, registry):
    r = pull(daemon, f"{registry.host}/library/nothing")
    assert r.status == 404, r.body
    assert r.headers["Content-Type"] == "application/json"
    assert "not found" in r.json()["message"]
    r = daemon.request("POST", "/images/create?fromImage=docker.io/library/BusyBox")
    assert r.status == 400
    assert "must be lowercase" in r.json()["message"]
    r = daemon.request("POST", "/images/create")
    assert r.status == 400


def test_list_inspect_history(daemon, registry):
    pull(daemon, f"{registry.host}/library/busybox")
    name = f"{registry.host}/library/busybox:latest"
    images = daemon.request("GET", "/v1.44/images/json").json()
    mine = [i for i in images if name in i["RepoTags"]]
    assert len(mine) == 1
    summary = mine[0]
    for key in ("Id", "ParentId", "RepoTags", "RepoDigests", "Created", "Size", "SharedSize",
                "Labels", "Containers"):
        assert key in summary
    assert "VirtualSize" not in summary
    assert "VirtualSize" in daemon.request("GET", "/v1.41/images/json").json()[0]
    assert summary["Id"].startswith("sha256:")
    assert summary["RepoDigests"][0].startswith(f"{registry.host}/library/busybox@sha256:")
    filt = quote(json.dumps({"reference": {f"{registry.host}/library/*": True}}))
    assert [i["Id"] for i in daemon.request("GET", f"/images/json?filters={filt}").json()] == \
        [summary["Id"]]
    filt = quote(json.dumps({"reference": ["nomatch*"]}))
    assert daemon.request("GET", f"/images/json?filters={filt}").json() == []
    filt = quote(json.dumps({"dangling": ["true"]}))
    assert summary["Id"] not in [i["Id"] for i in
                                 daemon.request("GET", f"/images/json?filters={filt}").json()]
    filt = quote(json.dumps({"before": [name]}))
    assert summary["Id"] not in [i["Id"] for i in
                                 daemon.request("GET", f"/images/json?filters={filt}").json()]
    filt = quote(json.dumps({"before": ["nope:nope"]}))
    assert daemon.request("GET", f"/images/json?filters={filt}").status == 404

    # inspect by name, by full ID and by a short ID (names with '/' and ':' in the path)
    for ref in (name, summary["Id"], summary["Id"][7:19]):
        r = daemon.request("GET", f"/v1.44/images/{ref}/json")
        assert r.status == 200, (ref, r.body)
        info = r.json()
        assert info["Id"] == summary["Id"]
        assert isinstance(info["Config"], dict)
        assert info["RootFS"]["Type"] == "layers" and info["Os"] == "linux"
    r = daemon.request("GET", "/images/nope/json")
    assert r.status == 404 and r.json() == {"message": "No such image: nope"}
    df = daemon.request("GET", "/v1.44/system/df").json()
    assert {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"} <= set(df)
    assert summary["Id"] in [i["Id"] for i in df["Images"]]
    assert set(daemon.request("GET", "/system/df?type=image").json()) == {"LayersSize",
                                                                          "Images"}
    assert daemon.request("GET", "/system/df?type=bogus").status == 400
    hist = daemon.request("GET", f"/images/{name}/history").json()
    assert hist[0]["Id"] == summary["Id"] and hist[0]["Tags"] == [name]
    assert daemon.request("GET", "/images/nope/history").status == 404


def test_tag_push_remove(daemon, registry):
    pull(daemon, f"{registry.host}/library/busybox")
    src = f"{registry.host}/library/busybox:latest"
    r = daemon.request("POST", f"/v1.44/images/{src}/tag?repo={registry.host}/pushed/bb"
                               "&tag=v1")
    assert r.status == 201, r.body
    assert daemon.request("POST", f"/images/{src}/tag?repo=Bad/Repo").status == 400
    assert daemon.request("POST", "/images/nope/tag?repo=x&tag=y").status == 404
    r = daemon.request("POST", f"/v1.44/images/{registry.host}/pushed/bb/push?tag=v1",
                       headers=auth_header())
    assert r.status == 200, r.body
    msgs = r.stream()
    assert msgs[0]["status"] == f"The push refers to repository [{registry.host}/pushed/bb]"
    aux = [m["aux"] for m in msgs if "aux" in m]
    assert aux and aux[0]["Tag"] == "v1" and aux[0]["Digest"].startswith("sha256:")
    assert not any("error" in m for m in msgs)
    r = daemon.request("POST", f"/images/{registry.host}/notthere/push?tag=x")
    assert r.status == 404
    # a push to a dead registry fails inside the stream, with errorDetail and error
    daemon.request("POST", f"/images/{src}/tag?repo=127.0.0.1:1/dead&tag=x")
    r = daemon.request("POST", "/images/127.0.0.1:1/dead/push?tag=x")
    last = r.stream()[-1]
    assert "errorDetail" in last and last["error"] == last["errorDetail"]["message"]
    # rmi: untag only while other tags remain; 409 by ID with several tags
    image_id = daemon.request("GET", f"/images/{src}/json").json()["Id"]
    r = daemon.request("DELETE", f"/images/{image_id}")
    assert r.status == 409, r.body
    assert "must be forced" in r.json()["message"]
    r = daemon.request("DELETE", f"/v1.44/images/{registry.host}/pushed/bb:v1")
    assert r.status == 200
    assert r.json() == [{"Untagged": f"{registry.host}/pushed/bb:v1"}]
    assert daemon.request("DELETE", "/images/127.0.0.1:1/dead:x").status == 200
    assert daemon.request("DELETE", "/images/nope").status == 404
    r = daemon.request("DELETE", f"/images/{image_id}?force=1")
    assert r.status == 200
    assert {"Deleted": image_id} in r.json()
    assert daemon.request("GET", f"/images/{image_id}/json").status == 404


def test_save_load(daemon, registry):
    pull(daemon, f"{registry.host}/tools/busybox", "1.0")
    name = f"{registry.host}/tools/busybox:1.0"
    r = daemon.request("GET", f"/images/{name}/get")
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
        names = tar.getnames()
    assert "manifest.json" in names and "index.json" in names
    r2 = daemon.request("GET", f"/images/get?names={quote(name)}")
    assert r2.status == 200 and len(r2.body) > 0
    assert daemon.request("GET", "/images/get?names=nope").status == 404
    image_id = daemon.request("GET", f"/images/{name}/json").json()["Id"]
    daemon.request("DELETE", f"/images/{name}?force=1")
    r = daemon.request("POST", "/images/load?quiet=0", r.body,
                       {"Content-Type": "application/x-tar"}, chunked=True)
    assert r.status == 200, r.body
    assert r.headers["Content-Type"] == "application/json"
    assert {"stream": f"Loaded image: {name}\n"} in r.stream()
    assert daemon.request("GET", f"/images/{name}/json").json()["Id"] == image_id
    r = daemon.request("POST", "/images/load", b"not a tar at all" * 100)
    assert r.status == 400 or r.status == 500
    assert "message" in r.json()


def test_import_and_prune(daemon):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("etc/hello")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    r = daemon.request("POST", "/images/create?fromSrc=-&repo=imported&tag=t&message=msg"
                               "&changes=" + quote('CMD ["/bin/sh"]') + "&changes="
                               + quote("LABEL a=b"),
                       buf.getvalue(), {"Content-Type": "application/x-tar"}, chunked=True)
    assert r.status == 200, r.body
    image_id = r.stream()[-1]["status"]
    assert image_id.startswith("sha256:")
    info = daemon.request("GET", "/images/imported:t/json").json()
    assert info["Id"] == image_id and info["Comment"] == "msg"
    assert info["Config"]["Cmd"] == ["/bin/sh"] and info["Config"]["Labels"] == {"a": "b"}
    filt = quote(json.dumps({"label": ["a=b"]}))
    assert [i["Id"] for i in daemon.request("GET", f"/images/json?filters={filt}").json()] == \
        [image_id]
    # an untagged (dangling) copy: import without repo
    r = daemon.request("POST", "/images/create?fromSrc=-&message=other", buf.getvalue() + b"")
    dangling_id = r.stream()[-1]["status"]
    filt = quote(json.dumps({"dangling": {"true": True}}))
    listed = daemon.request("GET", f"/images/json?filters={filt}").json()
    if dangling_id != image_id:
        assert dangling_id in [i["Id"] for i in listed]
        r = daemon.request("POST", f"/images/prune?filters={filt}")
        assert r.status == 200
        body = r.json()
        assert {"Deleted": dangling_id} in body["ImagesDeleted"]
        assert "SpaceReclaimed" in body
    assert daemon.request("GET", "/images/imported:t/json").status == 200
    # prune everything unused but what carries label a=b: the imported image stays
    keep = quote(json.dumps({"dangling": ["false"], "label!": ["a=b"], "until": ["1s"]}))
    r = daemon.request("POST", f"/images/prune?filters={keep}")
    assert r.status == 200
    assert image_id not in [e.get("Deleted") for e in r.json()["ImagesDeleted"] or []]
    r = daemon.request("POST", "/images/prune?filters=" + quote('{"label":["a=c"]}'))
    assert r.status == 200 and daemon.request("GET", "/images/imported:t/json").status == 200
    r = daemon.request("POST", "/images/prune?filters=" + quote('{"bogus":["1"]}'))
    assert r.status == 400
    r = daemon.request("POST", "/images/create?fromSrc=http://example.invalid/x.tar")
    assert r.status == 400
    daemon.request("DELETE", "/images/imported:t")


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from registry_server import run_registry

    base = tmp_path_factory.mktemp("basic")
    with run_registry(base, htpasswd={"alice": "s3cret"}, name="basic") as reg:
        yield reg


def test_auth_and_authenticated_push_pull(daemon, basic_registry):
    host = basic_registry.host
    body = json.dumps({"username": "alice", "password": "s3cret", "serveraddress": host})
    r = daemon.request("POST", "/v1.44/auth", body.encode(), {"Content-Type": "application/json"})
    assert r.status == 200, r.body
    assert r.json()["Status"] == "Login Succeeded" and "IdentityToken" in r.json()
    bad = json.dumps({"username": "alice", "password": "wrong", "serveraddress": host})
    r = daemon.request("POST", "/v1.44/auth", bad.encode(), {"Content-Type": "application/json"})
    assert r.status == 401 and r.headers["Content-Type"] == "application/json"

    # A fresh image of its own: a pulled image whose layer was already unpacked by a
    # `load` has no registry blob to push (an image-layer limitation, see the report).
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("private.txt")
        info.size = 7
        tar.addfile(info, io.BytesIO(b"private"))
    target = f"{host}/private/bb"
    r = daemon.request("POST", f"/images/create?fromSrc=-&repo={target}&tag=1", buf.getvalue())
    assert r.status == 200, r.body
    creds = auth_header(username="alice", password="s3cret", serveraddress=host)
    r = daemon.request("POST", f"/images/{target}/push?tag=1", headers=creds)
    assert not any("error" in m for m in r.stream()), r.body
    # without credentials the push fails in the stream
    r = daemon.request("POST", f"/images/{target}/push?tag=1")
    assert "error" in r.stream()[-1]
    daemon.request("DELETE", f"/images/{target}:1")
    r = daemon.request("POST", f"/images/create?fromImage={target}&tag=1")
    assert r.status == 401, r.body
    r = daemon.request("POST", f"/images/create?fromImage={target}&tag=1", headers=creds)
    assert r.status == 200 and not any("error" in m for m in r.stream()), r.body
    daemon.request("DELETE", f"/images/{target}:1")


def test_commit_without_engine(daemon):
    r = daemon.request("POST", "/v1.44/commit?container=nope&repo=x")
    assert r.status == 404 and r.json() == {"message": "No such container: nope"}
    assert daemon.request("POST", "/commit").status == 400
