"""exec, attach, cp, port, diff, export, commit, stats, events, df, prune, update against
the fake daemon."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from test_client_fakedaemon import FakeDaemon, Reply, error, frame, lines
from test_client_fakedaemon import run_cli as run

from dockyard.cli.main import main

pytestmark = pytest.mark.unit

EID = "e" * 64
CID = "c" * 64


class BytesOut(io.StringIO):
    """A text stream with a binary ``buffer``, like sys.stdout."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()


# --- exec --------------------------------------------------------------------------------

def _exec_routes(d: FakeDaemon, code: int, output: bytes = b"out\n") -> None:
    d.route("POST", "/containers/web/exec", Reply(201, {"Id": EID}))
    d.route("POST", f"/exec/{EID}/start", Reply(hijack=frame(1, output) + frame(2, b"err\n")))
    d.route("GET", f"/exec/{EID}/json", Reply(200, {"ExitCode": code, "Running": False}))


@pytest.mark.parametrize("code", [0, 1, 126, 127, 137])
def test_exec_exit_code(daemon: FakeDaemon, code: int) -> None:
    _exec_routes(daemon, code)
    status, out, err = run(daemon, "exec", "web", "sh", "-c", "exit")
    assert (status, out, err) == (code, "out\n", "err\n")
    body = daemon.last("POST", "/containers/web/exec").json()
    assert body["Cmd"] == ["sh", "-c", "exit"]
    assert body["AttachStdout"] and body["AttachStderr"] and not body["AttachStdin"]
    assert daemon.last("POST", f"/exec/{EID}/start").json() == {"Detach": False, "Tty": False}


def test_exec_options(daemon: FakeDaemon, tmp_path: Path) -> None:
    _exec_routes(daemon, 0)
    env = tmp_path / "env"
    env.write_text("X=1\n")
    run(daemon, "exec", "-u", "nobody", "-w", "/tmp", "-e", "A=b", "--env-file", str(env),
        "--privileged", "--detach-keys", "ctrl-x", "web", "id", "-u")
    body = daemon.last("POST", "/containers/web/exec").json()
    assert body["User"] == "nobody" and body["WorkingDir"] == "/tmp"
    assert body["Env"] == ["X=1", "A=b"] and body["Privileged"] is True
    assert body["DetachKeys"] == "ctrl-x" and body["Cmd"] == ["id", "-u"]


def test_exec_detached(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/containers/web/exec", Reply(201, {"Id": EID}))
    daemon.route("POST", f"/exec/{EID}/start", Reply(200, body=b""))
    assert run(daemon, "exec", "-d", "web", "sleep", "5") == (0, "", "")
    assert daemon.last("POST", f"/exec/{EID}/start").json()["Detach"] is True
    assert daemon.last("POST", "/containers/web/exec").json()["AttachStdout"] is False


def test_exec_interactive_stdin(daemon: FakeDaemon) -> None:
    _exec_routes(daemon, 0)
    daemon.route("POST", f"/exec/{EID}/start", Reply(hijack=b"", read_stdin=True))
    status, out, _ = run(daemon, "exec", "-i", "web", "cat", stdin="abc\n")
    assert (status, out) == (0, "abc\n")
    assert daemon.last("POST", "/containers/web/exec").json()["AttachStdin"] is True


def test_exec_not_running(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/containers/web/exec",
                 error(409, f"container {CID} is not running"))
    assert run(daemon, "exec", "web", "ls") == (
        1, "", f"Error response from daemon: container {CID} is not running\n")


def test_exec_needs_command(daemon: FakeDaemon) -> None:
    status, _, err = run(daemon, "exec", "web")
    assert status == 1
    assert err.startswith("dockyard: 'dockyard exec' requires at least 2 arguments")


def test_exec_tty_needs_terminal(daemon: FakeDaemon) -> None:
    assert run(daemon, "exec", "-it", "web", "sh") == (1, "", "the input device is not a TTY\n")


# --- attach ------------------------------------------------------------------------------

def _inspect(running: bool = True, exit_code: int = 0, **config: Any) -> Reply:
    return Reply(200, {"Id": CID, "State": {"Running": running, "Paused": False,
                                            "ExitCode": exit_code},
                       "Config": {"Tty": False, "OpenStdin": False, **config}})


def test_attach_streams_and_exit_code(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/web/json", _inspect())
    daemon.route("POST", f"/containers/{CID}/attach", Reply(hijack=frame(1, b"log\n")))
    daemon.route("POST", f"/containers/{CID}/wait", Reply(200, {"StatusCode": 5}))
    assert run(daemon, "attach", "--no-stdin", "web") == (5, "log\n", "")
    assert daemon.last("POST", f"/containers/{CID}/attach").query["stdin"] == "0"
    assert [r.path for r in daemon.requests] == [
        "/containers/web/json", f"/containers/{CID}/attach", f"/containers/{CID}/wait"]


def test_attach_stopped(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/web/json", _inspect(running=False))
    assert run(daemon, "attach", "web") == (
        1, "", "You cannot attach to a stopped container, start it first\n")


# --- cp ----------------------------------------------------------------------------------

def _stat(name: str, size: int, mode: int) -> str:
    return base64.b64encode(json.dumps({"name": name, "size": size, "mode": mode,
                                        "mtime": "2024-01-01T00:00:00Z",
                                        "linkTarget": ""}).encode()).decode()


def _tar(entries: dict[str, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


DIR_MODE = (1 << 31) | 0o755


def test_cp_from_container_to_new_file(daemon: FakeDaemon, tmp_path: Path) -> None:
    daemon.route("GET", "/containers/web/archive", Reply(
        200, body=_tar({"hosts": b"127.0.0.1 localhost\n"}), content_type="application/x-tar",
        headers={"X-Docker-Container-Path-Stat": _stat("hosts", 20, 0o644)}))
    status, _, err = run(daemon, "cp", "web:/etc/hosts", str(tmp_path / "copy"))
    assert (status, err) == (0, "")
    assert (tmp_path / "copy").read_text() == "127.0.0.1 localhost\n"
    assert daemon.last("GET", "/containers/web/archive").query == {"path": "/etc/hosts"}


def test_cp_from_container_dir_into_existing_dir(daemon: FakeDaemon, tmp_path: Path) -> None:
    daemon.route("GET", "/containers/web/archive", Reply(
        200, body=_tar({"etc": None, "etc/a": b"A", "etc/sub": None, "etc/sub/b": b"B"}),
        headers={"X-Docker-Container-Path-Stat": _stat("etc", 0, DIR_MODE)}))
    (tmp_path / "dest").mkdir()
    assert run(daemon, "cp", "web:/etc", str(tmp_path / "dest"))[0] == 0
    assert (tmp_path / "dest/etc/sub/b").read_bytes() == b"B"
    # a destination that does not exist takes the source's place
    assert run(daemon, "cp", "web:/etc", str(tmp_path / "renamed"))[0] == 0
    assert (tmp_path / "renamed/a").read_bytes() == b"A"


def test_cp_refuses_entries_outside_destination(daemon: FakeDaemon, tmp_path: Path) -> None:
    daemon.route("GET", "/containers/web/archive", Reply(
        200, body=_tar({"x/../../escape": b"bad"}),
        headers={"X-Docker-Container-Path-Stat": _stat("x", 0, DIR_MODE)}))
    (tmp_path / "d").mkdir()
    status, _, err = run(daemon, "cp", "web:/x", str(tmp_path / "d"))
    assert status == 1 and "outside the destination" in err
    assert not (tmp_path / "escape").exists()


def test_cp_from_container_to_stdout(daemon: FakeDaemon) -> None:
    data = _tar({"f": b"x"})
    daemon.route("GET", "/containers/web/archive", Reply(
        200, body=data, headers={"X-Docker-Container-Path-Stat": _stat("f", 1, 0o644)}))
    out, err = BytesOut(), io.StringIO()
    status = main(["-H", daemon.host, "cp", "web:/f", "-"], stdout=out, stderr=err,
                  stdin=io.StringIO())
    assert status == 0 and out.buffer.getvalue() == data


def test_cp_to_container_existing_dir(daemon: FakeDaemon, tmp_path: Path) -> None:
    src = tmp_path / "file.txt"
    src.write_text("payload")
    daemon.route("HEAD", "/containers/web/archive", Reply(
        200, headers={"X-Docker-Container-Path-Stat": _stat("tmp", 0, DIR_MODE)}))
    daemon.route("PUT", "/containers/web/archive", Reply(200))
    assert run(daemon, "cp", "-a", str(src), "web:/tmp") == (0, "", "")
    put = daemon.last("PUT", "/containers/web/archive")
    assert put.query == {"path": "/tmp", "noOverwriteDirNonDir": "1", "copyUIDGID": "1"}
    assert put.headers["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(put.body)) as tar:
        member = tar.getmember("file.txt")
        assert tar.extractfile(member).read() == b"payload"  # type: ignore[union-attr]


def test_cp_to_container_new_name(daemon: FakeDaemon, tmp_path: Path) -> None:
    src = tmp_path / "file.txt"
    src.write_text("payload")
    daemon.route("HEAD", "/containers/web/archive", Reply(404))
    daemon.route("PUT", "/containers/web/archive", Reply(200))
    assert run(daemon, "cp", str(src), "web:/tmp/new.txt")[0] == 0
    put = daemon.last("PUT", "/containers/web/archive")
    assert put.query["path"] == "/tmp"
    with tarfile.open(fileobj=io.BytesIO(put.body)) as tar:
        assert tar.getnames() == ["new.txt"]


def test_cp_stdin_tar(daemon: FakeDaemon) -> None:
    data = _tar({"a": b"1"})
    daemon.route("HEAD", "/containers/web/archive", Reply(
        200, headers={"X-Docker-Container-Path-Stat": _stat("/", 0, DIR_MODE)}))
    daemon.route("PUT", "/containers/web/archive", Reply(200))
    stdin = io.TextIOWrapper(io.BytesIO(data))
    assert run(daemon, "cp", "-", "web:/", stdin=stdin)[0] == 0
    assert daemon.last("PUT", "/containers/web/archive").body == data


@pytest.mark.parametrize(("args", "message"), [
    (["a:/x", "b:/y"], "copying between containers is not supported\n"),
    (["/a", "/b"], "must specify at least one container source\n"),
])
def test_cp_argument_errors(daemon: FakeDaemon, args: list[str], message: str) -> None:
    assert run(daemon, "cp", *args) == (1, "", message)


# --- port, diff, export, commit ----------------------------------------------------------

def test_port(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/web/json", Reply(200, {"NetworkSettings": {"Ports": {
        "443/tcp": None,
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                   {"HostIp": "::", "HostPort": "8080"}]}}}))
    assert run(daemon, "port", "web") == (
        0, "80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n", "")
    assert run(daemon, "port", "web", "80")[1] == "0.0.0.0:8080\n[::]:8080\n"
    assert run(daemon, "port", "web", "443/tcp") == (
        1, "", "Error: No public port '443/tcp' published for web\n")


def test_diff(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/web/changes", Reply(200, [
        {"Path": "/etc", "Kind": 0}, {"Path": "/etc/x", "Kind": 1}, {"Path": "/y", "Kind": 2}]))
    assert run(daemon, "diff", "web") == (0, "C /etc\nA /etc/x\nD /y\n", "")


def test_export_to_file(daemon: FakeDaemon, tmp_path: Path) -> None:
    daemon.route("GET", "/containers/web/export", Reply(chunks=[b"tar", b"data"],
                                                        content_type="application/x-tar"))
    assert run(daemon, "export", "-o", str(tmp_path / "x.tar"), "web") == (0, "", "")
    assert (tmp_path / "x.tar").read_bytes() == b"tardata"


def test_commit(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/commit", Reply(201, {"Id": "sha256:" + "f" * 64}))
    status, out, _ = run(daemon, "commit", "-a", "me", "-m", "msg", "-c", "CMD [\"sh\"]",
                         "-p=false", "web", "repo/x:v1")
    assert (status, out) == (0, "sha256:" + "f" * 64 + "\n")
    assert daemon.last("POST", "/commit").query == {
        "container": "web", "repo": "repo/x", "tag": "v1", "comment": "msg", "author": "me",
        "pause": "0", "changes": 'CMD ["sh"]'}


# --- stats, events, df, prune, update ----------------------------------------------------

STATS = {
    "id": CID, "name": "/web",
    "cpu_stats": {"cpu_usage": {"total_usage": 300_000_000}, "system_cpu_usage": 2_000_000_000,
                  "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 100_000_000},
                     "system_cpu_usage": 1_000_000_000},
    "memory_stats": {"usage": 12 << 20, "limit": 1 << 30, "stats": {"inactive_file": 2 << 20}},
    "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 500}},
    "blkio_stats": {"io_service_bytes_recursive": [{"op": "read", "value": 4096},
                                                   {"op": "write", "value": 0}]},
    "pids_stats": {"current": 3},
}


def test_stats_no_stream(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/web/stats", Reply(200, STATS))
    status, out, _ = run(daemon, "stats", "--no-stream", "web")
    assert status == 0
    assert out.splitlines() == [
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O        "
        "BLOCK I/O    PIDS",
        "cccccccccccc   web       40.00%    10MiB / 1GiB        0.98%     1.5kB / 500B   "
        "4.1kB / 0B   3",
    ]
    assert daemon.last("GET", "/containers/web/stats").query == {"stream": "0"}


def test_events(daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time
    time.tzset()
    daemon.route("GET", "/events", Reply(chunks=lines({
        "Type": "container", "Action": "start", "Actor": {"ID": CID, "Attributes": {
            "name": "web", "image": "busybox"}}, "time": 1700000000,
        "timeNano": 1700000000123456789})))
    status, out, _ = run(daemon, "events", "--since", "1699999999", "--filter",
                         "type=container")
    assert status == 0
    assert out == (f"2023-11-14T22:13:20.123456789Z container start {CID} "
                   "(image=busybox, name=web)\n")
    query = daemon.last("GET", "/events").query
    assert query["since"] == "1699999999"
    assert json.loads(query["filters"]) == {"type": {"container": True}}
    assert run(daemon, "events", "--format", "{{.Action}} {{.Actor.Attributes.name}}")[1] \
        == "start web\n"


def test_system_df(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/system/df", Reply(200, {
        "LayersSize": 4_260_000, "Images": [{"Size": 4_260_000, "SharedSize": 0,
                                              "Containers": 0}],
        "Containers": [], "Volumes": [], "BuildCache": []}))
    status, out, _ = run(daemon, "system", "df")
    assert status == 0
    assert out.splitlines() == [
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE",
        "Images          1         0         4.26MB    4.26MB (100%)",
        "Containers      0         0         0B        0B",
        "Local Volumes   0         0         0B        0B",
        "Build Cache     0         0         0B        0B"]


def test_container_prune(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/containers/prune", Reply(200, {
        "ContainersDeleted": [CID], "SpaceReclaimed": 2048}))
    assert run(daemon, "container", "prune", "-f", "--filter", "until=1h") == (
        0, f"Deleted Containers:\n{CID}\n\nTotal reclaimed space: 2.05kB\n", "")
    assert json.loads(daemon.last("POST", "/containers/prune").query["filters"]) == {
        "until": {"1h": True}}


def test_container_prune_asks(daemon: FakeDaemon) -> None:
    status, out, _ = run(daemon, "container", "prune", stdin="n\n")
    assert status == 0
    assert out == ("WARNING! This will remove all stopped containers.\n"
                   "Are you sure you want to continue? [y/N] ")
    assert daemon.requests == []


def test_image_prune_all(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/images/prune", Reply(200, {
        "ImagesDeleted": [{"Untagged": "busybox:latest"}, {"Deleted": "sha256:ab"}],
        "SpaceReclaimed": 0}))
    status, out, _ = run(daemon, "image", "prune", "-af")
    assert status == 0
    assert out == ("Deleted Images:\nuntagged: busybox:latest\ndeleted: sha256:ab\n\n"
                   "Total reclaimed space: 0B\n")
    assert json.loads(daemon.last("POST", "/images/prune").query["filters"]) == {
        "dangling": {"false": True}}


def test_system_prune(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/containers/prune", Reply(200, {"SpaceReclaimed": 0}))
    daemon.route("POST", "/images/prune", Reply(200, {"SpaceReclaimed": 1000}))
    daemon.route("POST", "/networks/prune", Reply(200, {"NetworksDeleted": None}))
    assert run(daemon, "system", "prune", "-f") == (0, "Total reclaimed space: 1kB\n", "")
    daemon.route("POST", "/networks/prune", Reply(200, {"NetworksDeleted": ["net1"]}))
    daemon.route("POST", "/volumes/prune", Reply(200, {"VolumesDeleted": ["v1"],
                                                       "SpaceReclaimed": 1000}))
    assert run(daemon, "system", "prune", "-f", "--volumes") == (
        0, "Deleted Networks:\nnet1\n\nDeleted Volumes:\nv1\n\n"
           "Total reclaimed space: 2kB\n", "")
    status, out, _ = run(daemon, "system", "prune", stdin="\n")
    assert status == 0
    assert out.startswith("WARNING! This will remove:\n  - all stopped containers\n")


def test_update(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/containers/.*/update", Reply(200, {"Warnings": []}))
    assert run(daemon, "update", "-m", "256m", "--cpus", "0.5", "--pids-limit", "10",
               "--restart", "always", "a", "b") == (0, "a\nb\n", "")
    assert daemon.last("POST", "/containers/b/update").json() == {
        "NanoCpus": 500_000_000, "Memory": 256 << 20, "PidsLimit": 10,
        "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}}
    assert run(daemon, "update", "a") == (
        1, "", "you must provide one or more flags when using this command\n")
