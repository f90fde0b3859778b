"""Each thin client method sends the request the v1.44 spec names (method, path, query)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_client_fakedaemon import FakeDaemon, Reply

from dockyard.client import Client

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def daemon() -> Iterator[FakeDaemon]:
    d = FakeDaemon().start()
    for method in ("GET", "POST", "DELETE", "PUT", "HEAD"):
        d.route(method, "/.*", lambda req: Reply(chunks=[b"[]"])
                if req.method == "GET" else Reply(200, json_body={}))
    yield d
    d.stop()


CASES: list[tuple[Callable[[Client], Any], str, str, dict[str, Any]]] = [
    (lambda c: c.info(), "GET", "/info", {}),
    (lambda c: list(c.events(since="1", filters={"type": ["container"]})), "GET", "/events",
     {"since": "1", "filters": '{"type":{"container":true}}'}),
    (lambda c: c.df(), "GET", "/system/df", {}),
    (lambda c: c.auth("u", "p", "reg"), "POST", "/auth", {}),
    (lambda c: c.images(all=True), "GET", "/images/json", {"all": "1"}),
    (lambda c: c.inspect_image("a/b:c"), "GET", "/images/a/b:c/json", {}),
    (lambda c: c.history("x"), "GET", "/images/x/history", {}),
    (lambda c: c.remove_image("x", noprune=True), "DELETE", "/images/x", {"noprune": "1"}),
    (lambda c: c.prune_images({"dangling": ["true"]}), "POST", "/images/prune",
     {"filters": '{"dangling":{"true":true}}'}),
    (lambda c: list(c.import_image("http://h/x.tar", "r:t")), "POST", "/images/create",
     {"fromSrc": "http://h/x.tar", "repo": "r", "tag": "t"}),
    (lambda c: c.create_container({"Image": "x"}, platform="linux/amd64"), "POST",
     "/containers/create", {"platform": "linux/amd64"}),
    (lambda c: c.restart("c", timeout=1, signal="TERM"), "POST", "/containers/c/restart",
     {"t": "1", "signal": "TERM"}),
    (lambda c: c.kill("c"), "POST", "/containers/c/kill", {}),
    (lambda c: c.wait("c", "next-exit"), "POST", "/containers/c/wait",
     {"condition": "next-exit"}),
    (lambda c: c.inspect_container("c", size=True), "GET", "/containers/c/json", {"size": "1"}),
    (lambda c: c.resize("c", 10, 20), "POST", "/containers/c/resize", {"h": "10", "w": "20"}),
    (lambda c: c.top("c", "aux"), "GET", "/containers/c/top", {"ps_args": "aux"}),
    (lambda c: list(c.stats("c", stream=False)), "GET", "/containers/c/stats",
     {"stream": "0", "one-shot": "1"}),
    (lambda c: c.update_container("c", {"Memory": 1}), "POST", "/containers/c/update", {}),
    (lambda c: c.changes("c"), "GET", "/containers/c/changes", {}),
    (lambda c: list(c.export("c")), "GET", "/containers/c/export", {}),
    (lambda c: list(c.get_archive("c", "/x")[0]), "GET", "/containers/c/archive", {"path": "/x"}),
    (lambda c: c.put_archive("c", "/d", b"tar", no_overwrite_dir_non_dir=True), "PUT",
     "/containers/c/archive", {"path": "/d", "noOverwriteDirNonDir": "1"}),
    (lambda c: c.prune_containers(), "POST", "/containers/prune", {}),
    (lambda c: c.exec_create("c", {"Cmd": ["ls"]}), "POST", "/containers/c/exec", {}),
]


@pytest.mark.parametrize(("call", "method", "path", "query"), CASES,
                         ids=[f"{m} {p}" for _c, m, p, _q in CASES])
def test_endpoint(daemon: FakeDaemon, call: Callable[[Client], Any], method: str, path: str,
                  query: dict[str, Any]) -> None:
    call(Client(daemon.host))
    req = daemon.requests[-1]
    assert (req.method, req.path, req.query) == (method, path, query)
    assert req.raw_path.startswith("/v1.44/")
