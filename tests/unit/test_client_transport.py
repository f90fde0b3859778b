"""The Engine API client against a fake daemon on a unix socket: paths, JSON, errors,
streams, chunked bodies and hijacked connections."""

from __future__ import annotations

import base64
import json
import os

import pytest
from test_client_fakedaemon import FakeDaemon, Reply, error, frame, lines

from dockyard.client import APIError, Client, DaemonUnavailable, default_host, parse_host
from dockyard.client.transport import demux_chunks, query_string

pytestmark = pytest.mark.unit


@pytest.fixture
def client(daemon: FakeDaemon) -> Client:
    return Client(daemon.host)


# --- hosts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "parsed"), [
    ("unix:///run/dockyard/dockyard.sock", ("unix", "/run/dockyard/dockyard.sock", 0)),
    ("/tmp/x.sock", ("unix", "/tmp/x.sock", 0)),
    ("tcp://127.0.0.1:2375", ("tcp", "127.0.0.1", 2375)),
    ("tcp://example:1", ("tcp", "example", 1)),
    ("http://h", ("tcp", "h", 2375)),
    ("tcp://[::1]:80", ("tcp", "::1", 80)),
])
def test_parse_host(host: str, parsed: tuple[str, str, int]) -> None:
    assert parse_host(host) == parsed


@pytest.mark.parametrize("host", ["ssh://x", "unix://", "tcp://h:port", "npipe:////./pipe"])
def test_parse_host_rejects(host: str) -> None:
    with pytest.raises(ValueError, match="invalid host"):
        parse_host(host)


def test_default_host_precedence() -> None:
    assert default_host({}) == "unix:///run/dockyard/dockyard.sock"
    assert default_host({"DOCKER_HOST": "tcp://d:1"}) == "tcp://d:1"
    assert default_host({"DOCKER_HOST": "tcp://d:1", "DOCKYARD_HOST": "unix:///y"}) == "unix:///y"


def test_query_string() -> None:
    assert query_string({"all": True, "x": None, "size": False}) == "?all=1&size=0"
    assert query_string({"names": ["a", "b:c"]}) == "?names=a&names=b%3Ac"
    assert query_string({"filters": {"label": {"a=b": True}}}) == (
        "?filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D")
    assert query_string({}) == ""


# --- requests, errors ------------------------------------------------------------------


def test_version_prefix_and_json(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("GET", "/version", Reply(json_body={"Version": "1", "ApiVersion": "1.44"}))
    assert client.version()["ApiVersion"] == "1.44"
    req = daemon.last("GET", "/version")
    assert req.raw_path == "/v1.44/version"
    assert req.headers["User-Agent"] == "dockyard-cli"


def test_ping_is_unversioned(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("GET", "/_ping", Reply(body=b"OK"))
    assert client.ping() is True
    assert daemon.last("GET", "/_ping").raw_path == "/_ping"


def test_error_body_becomes_api_error(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("GET", "/containers/nope/json", error(404, "No such container: nope"))
    with pytest.raises(APIError) as info:
        client.inspect_container("nope")
    assert info.value.status == 404
    assert info.value.message == "No such container: nope"
    assert info.value.not_found


def test_error_with_other_content_type_is_raw_text(daemon: FakeDaemon, client: Client) -> None:
    # the docker CLI only decodes exactly application/json
    daemon.route("GET", "/info", Reply(500, body=b"boom\n"))
    with pytest.raises(APIError, match=r"^boom$"):
        client.info()
    daemon.route("GET", "/info", Reply(502, body=b""))
    with pytest.raises(APIError, match="502 Bad Gateway"):
        client.info()


def test_no_daemon(tmp_path: os.PathLike[str]) -> None:
    host = f"unix://{tmp_path}/absent.sock"
    with pytest.raises(DaemonUnavailable) as info:
        Client(host).version()
    assert str(info.value) == (f"Cannot connect to the dockyard daemon at {host}. "
                               "Is dockyardd running?")


def test_no_content_replies(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("POST", "/containers/c1/start", Reply(204))
    daemon.route("POST", "/containers/c1/stop", Reply(304))
    assert client.start("c1") is None
    assert client.stop("c1", timeout=3) is None
    assert daemon.last("POST", "/containers/c1/stop").query == {"t": "3"}


def test_names_with_slashes_stay_in_path(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("POST", "/images/.*/push", Reply(chunks=lines({"status": "ok"})))
    list(client.push("localhost:5000/a/b:v1"))
    req = daemon.last("POST")
    assert req.raw_path == "/v1.44/images/localhost:5000/a/b/push?tag=v1"
    auth = json.loads(base64.urlsafe_b64decode(req.headers["X-Registry-Auth"]))
    assert auth == {}


def test_pull_normalises_and_sends_auth(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("POST", "/images/create", Reply(chunks=lines({"status": "done"})))
    out = list(client.pull("busybox", auth={"username": "u", "password": "p"}))
    assert out == [{"status": "done"}]
    req = daemon.last("POST", "/images/create")
    assert req.query == {"fromImage": "docker.io/library/busybox", "tag": "latest"}
    auth = json.loads(base64.urlsafe_b64decode(req.headers["X-Registry-Auth"]))
    assert auth == {"username": "u", "password": "p"}


def test_tag_sends_normalised_repo(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("POST", "/images/.*/tag", Reply(201))
    client.tag("busybox", "me/box:v2")
    assert daemon.last().query == {"repo": "docker.io/me/box", "tag": "v2"}


def test_filters_are_cli_json(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("GET", "/containers/json", Reply(json_body=[]))
    client.containers(all=True, filters={"label": ["a=b"], "status": ["exited"]})
    q = daemon.last().query
    assert q["all"] == "1"
    assert json.loads(q["filters"]) == {"label": {"a=b": True}, "status": {"exited": True}}


def test_chunked_request_body(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("POST", "/images/load", Reply(chunks=lines({"stream": "Loaded image: x\n"})))
    out = list(client.load(iter([b"abc", b"", b"def" * 1000])))
    assert out == [{"stream": "Loaded image: x\n"}]
    req = daemon.last("POST", "/images/load")
    assert req.headers["Transfer-Encoding"] == "chunked"
    assert req.body == b"abc" + b"def" * 1000


def test_json_body(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("POST", "/containers/create", Reply(201, {"Id": "abc", "Warnings": []}))
    assert client.create_container({"Image": "busybox"}, name="n")["Id"] == "abc"
    req = daemon.last()
    assert req.json() == {"Image": "busybox"}
    assert req.headers["Content-Type"] == "application/json"
    assert req.query == {"name": "n"}


# --- streams ---------------------------------------------------------------------------


def test_json_stream_split_and_joined_chunks(daemon: FakeDaemon, client: Client) -> None:
    msgs = [{"status": "a", "id": "1"}, {"status": "b"}, {"status": "c", "progressDetail": {}}]
    data = b"".join(json.dumps(m).encode() + b"\n" for m in msgs)
    # one message split over chunks, two messages in one chunk, no trailing newline
    chunks = [data[:5], data[5:40], data[40:-1]]
    daemon.route("GET", "/events", Reply(chunks=chunks))
    assert list(client.events()) == msgs


def test_json_stream_concatenated_without_newlines(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("GET", "/events", Reply(chunks=[b'{"a":1}{"b":2}']))
    assert list(client.events()) == [{"a": 1}, {"b": 2}]


def test_logs_demultiplexed(daemon: FakeDaemon, client: Client) -> None:
    data = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"x" * 70000)
    chunks = [data[:3], data[3:13], data[13:]]
    daemon.route("GET", "/containers/c/logs", Reply(chunks=chunks))
    got = list(client.logs("c", tail="5"))
    assert got[:2] == [(1, b"out\n"), (2, b"err\n")]
    assert got[2] == (1, b"x" * 70000)
    assert daemon.last().query["tail"] == "5"


def test_logs_tty_is_raw(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("GET", "/containers/c/logs", Reply(chunks=[b"raw\r\n"]))
    assert list(client.logs("c", tty=True)) == [(1, b"raw\r\n")]


def test_demux_truncated_frame() -> None:
    with pytest.raises(APIError, match="unexpected EOF"):
        list(demux_chunks([frame(1, b"hello")[:-2]]))
    assert list(demux_chunks([b""])) == []


# --- hijack ----------------------------------------------------------------------------


def test_attach_frames(daemon: FakeDaemon, client: Client) -> None:
    payload = frame(1, b"hello\n") + frame(2, b"oops\n") + frame(1, b"")
    daemon.route("POST", "/containers/c/attach", Reply(hijack=payload))
    with client.attach("c") as conn:
        got = list(conn.frames())
    assert got == [(1, b"hello\n"), (2, b"oops\n"), (1, b"")]
    req = daemon.last()
    assert req.headers["Upgrade"] == "tcp"
    assert req.headers["Connection"] == "Upgrade"
    assert req.query == {"stream": "1", "stdin": "0", "stdout": "1", "stderr": "1"}


def test_attach_tty_is_raw(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("POST", "/containers/c/attach", Reply(hijack=b"\x01raw bytes\r\n"))
    with client.attach("c", tty=True) as conn:
        data = b"".join(chunk for _stream, chunk in conn.frames())
    assert data == b"\x01raw bytes\r\n"


def test_exec_start_half_close(daemon: FakeDaemon, client: Client) -> None:
    """stdin goes out, the client half-closes, output still comes back afterwards."""
    daemon.route("POST", "/exec/e1/start", Reply(hijack=frame(2, b"ready\n"), read_stdin=True))
    conn = client.exec_start("e1", tty=False)
    assert conn is not None
    with conn:
        conn.send(b"input data")
        conn.close_stdin()
        got = list(conn.frames())
    assert got == [(2, b"ready\n"), (1, b"input data")]
    assert daemon.last().json() == {"Detach": False, "Tty": False}


def test_exec_start_detached(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("POST", "/exec/e1/start", Reply(200, body=b""))
    assert client.exec_start("e1", detach=True) is None


def test_exec_inspect_and_resize(daemon: FakeDaemon, client: Client) -> None:
    daemon.route("GET", "/exec/e1/json", Reply(json_body={"ExitCode": 3, "Running": False}))
    daemon.route("POST", "/exec/e1/resize", Reply(201))
    client.exec_resize("e1", 24, 80)
    assert daemon.last().query == {"h": "24", "w": "80"}
    assert client.exec_inspect("e1")["ExitCode"] == 3


def test_archive_stat_header(daemon: FakeDaemon, client: Client) -> None:
    stat = base64.b64encode(b'{"name":"x"}').decode()
    daemon.route("HEAD", "/containers/c/archive",
                 Reply(200, headers={"X-Docker-Container-Path-Stat": stat}))
    assert client.stat_archive("c", "/etc/x") == stat
    assert daemon.last().query == {"path": "/etc/x"}
