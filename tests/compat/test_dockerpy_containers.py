"""docker-py against dockyardd: containers.run (attached and detached), logs(stream=True),
wait, kill, remove. busybox is seeded into the daemon's data root; hermetic as
test_api_containers_support.container_daemon."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]

docker = pytest.importorskip("docker")


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


def test_attach_logs_replay_is_complete_every_time(client):
    """The replayed frames must not share a read with the 101 header block: docker-py
    reads that through a buffered file and then the raw socket (bytes there are lost)."""
    c = client.containers.run("busybox", ["sh", "-c", "echo x; echo y >&2"], detach=True)
    try:
        assert c.wait(timeout=30)["StatusCode"] == 0
        for _ in range(25):
            assert client.api.attach(c.id, stdout=True, stderr=True, logs=True) == b"x\ny\n"
    finally:
        c.remove(force=True)


def test_attach_socket_stdin_and_output(client):
    import socket as _socket

    c = client.containers.create("busybox", ["sh", "-c", "read line; echo got:$line; "
                                             "echo err >&2"], stdin_open=True)
    try:
        sock = c.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        raw = sock._sock
        raw.settimeout(30)
        c.start()
        raw.sendall(b"hello\n")
        raw.shutdown(_socket.SHUT_WR)
        data = b""
        while True:
            chunk = raw.recv(4096)
            if not chunk:
                break
            data += chunk
        sock.close()
        frames: dict[int, bytes] = {1: b"", 2: b""}
        while data:
            size = int.from_bytes(data[4:8], "big")
            frames[data[0]] += data[8:8 + size]
            data = data[8 + size:]
        assert frames == {1: b"got:hello\n", 2: b"err\n"}
        assert c.wait(timeout=30)["StatusCode"] == 0
    finally:
        c.remove(force=True)


def test_events_decode_filters_since_until_and_live(client):
    import threading
    import time

    t0 = int(time.time()) - 1
    c = client.containers.run("busybox", ["true"], detach=True, labels={"dyc": "ev"})
    try:
        c.wait(timeout=30)
        until = int(time.time()) + 1
        time.sleep(max(0.0, until - time.time()) + 0.05)  # `until` must be in the past
        events = list(client.events(since=t0, until=until, decode=True,
                                    filters={"container": c.id}))
        actions = [e["Action"] for e in events]
        assert actions[:3] == ["create", "start", "die"], actions
        assert all(e["Actor"]["ID"] == c.id and e["Type"] == "container" for e in events)
        assert events[2]["Actor"]["Attributes"]["exitCode"] == "0"
        only = list(client.events(since=t0, until=until, decode=True,
                                  filters={"event": "die", "label": "dyc=ev"}))
        assert [e["id"] for e in only] == [c.id]
        # live: an event published while the stream is open arrives
        stream = client.events(decode=True, filters={"event": "destroy",
                                                      "container": c.id})
        threading.Timer(0.3, c.remove).start()
        event = next(iter(stream))
        stream.close()
        assert event["Action"] == "destroy" and event["id"] == c.id
    finally:
        try:
            c.remove(force=True)
        except docker.errors.NotFound:
            pass


def test_df_lists_containers_and_images(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo data > /file"], detach=True)
    try:
        c.wait(timeout=30)
        df = client.df()
        assert {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"} <= set(df)
        mine = [x for x in df["Containers"] if x["Id"] == c.id]
        assert len(mine) == 1 and mine[0]["Image"] == "busybox"
        assert mine[0]["SizeRw"] > 0 and mine[0]["State"] == "exited"
        busybox = client.images.get("busybox")
        img = [i for i in df["Images"] if i["Id"] == busybox.id]
        assert img and img[0]["Containers"] >= 1 and img[0]["Size"] > 0
        assert df["LayersSize"] >= img[0]["Size"] > 0
    finally:
        c.remove(force=True)
