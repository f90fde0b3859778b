"""CLI commands end to end against a fake daemon: output, exit codes, errors."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from test_client_fakedaemon import FakeDaemon, Reply, error, frame, lines

from dockyard.cli import format as cli_format
from dockyard.cli.main import main

pytestmark = pytest.mark.unit

NOW = time.time()
IMG_A = "sha256:" + "a" * 64
IMG_B = "sha256:" + "b" * 64


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ages like "5 minutes ago" must not drift while a long test run goes on."""
    monkeypatch.setattr(cli_format, "now", lambda: NOW)


class Result:
    def __init__(self, status: int, out: str, err: str) -> None:
        self.status, self.out, self.err = status, out, err


def run(daemon: FakeDaemon | None, *argv: str, stdin: str = "",
        config: Path | None = None) -> Result:
    out, err = io.StringIO(), io.StringIO()
    args = (["-H", daemon.host] if daemon else []) + (["--config", str(config)] if config
                                                      else []) + list(argv)
    status = main(args, stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return Result(status, out.getvalue(), err.getvalue())


# --- errors ----------------------------------------------------------------------------


def test_no_daemon_one_line(tmp_path: Path) -> None:
    r = run(None, "-H", f"unix://{tmp_path}/none.sock", "ps")
    assert r.status == 1
    assert r.err == (f"Cannot connect to the dockyard daemon at unix://{tmp_path}/none.sock. "
                     "Is dockyardd running?\n")


def test_no_daemon_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_HOST", f"unix://{tmp_path}/env.sock")
    r = run(None, "images")
    assert r.status == 1
    assert f"unix://{tmp_path}/env.sock" in r.err


def test_daemon_error(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/images/.*/tag", error(404, "No such image: nope:latest"))
    r = run(daemon, "tag", "nope", "x")
    assert (r.status, r.err) == (1, "Error response from daemon: No such image: nope:latest\n")


def test_rm_continues_after_errors(daemon: FakeDaemon) -> None:
    daemon.route("DELETE", "/containers/a", Reply(204))
    daemon.route("DELETE", "/containers/b", error(404, "No such container: b"))
    daemon.route("DELETE", "/containers/c", Reply(204))
    r = run(daemon, "rm", "-fv", "a", "b", "c")
    assert r.status == 1
    assert r.out == "a\nc\n"
    assert r.err == "Error response from daemon: No such container: b\n"
    assert daemon.last("DELETE", "/containers/a").query == {"v": "1", "force": "1"}


def test_start_failure_summary(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/containers/x/start", error(404, "No such container: x"))
    r = run(daemon, "start", "x")
    assert r.status == 1
    assert r.err == ("Error response from daemon: No such container: x\n"
                     "Error: failed to start containers: x\n")


# --- version / info --------------------------------------------------------------------

VERSION = {"Platform": {"Name": "dockyard"}, "Version": "0.1.0", "ApiVersion": "1.44",
           "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64",
           "Components": [{"Name": "Engine", "Version": "0.1.0", "Details": {
               "ApiVersion": "1.44", "MinAPIVersion": "1.24", "Os": "linux",
               "Arch": "amd64", "GoVersion": "python3.11", "GitCommit": "",
               "BuildTime": "", "Experimental": "false"}}]}


def test_version(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/version", Reply(json_body=VERSION))
    r = run(daemon, "version")
    assert r.status == 0
    assert r.out.startswith("Client:\n Version:           0.1.0\n API version:       1.44\n")
    assert "Server: dockyard\n Engine:\n  Version:          0.1.0\n" in r.out
    assert "  API version:      1.44 (minimum version 1.24)\n" in r.out


def test_version_format(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/version", Reply(json_body=VERSION))
    r = run(daemon, "version", "--format", "{{.Server.Version}} {{.Client.ApiVersion}}")
    assert r.out == "0.1.0 1.44\n"


def test_version_without_daemon_prints_client_then_error(tmp_path: Path) -> None:
    r = run(None, "-H", f"unix://{tmp_path}/x", "version")
    assert r.status == 1
    assert r.out.startswith("Client:\n")
    assert "Server" not in r.out
    assert r.err.startswith("Cannot connect to the dockyard daemon")


def test_info(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/info", Reply(json_body={
        "Containers": 3, "ContainersRunning": 1, "ContainersPaused": 0,
        "ContainersStopped": 2, "Images": 4, "ServerVersion": "0.1.0", "Driver": "overlay2",
        "MemTotal": 8 * 1024 ** 3, "NCPU": 4, "OSType": "linux", "Warnings": ["WARNING: x"]}))
    r = run(daemon, "info")
    assert r.status == 0
    assert " Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n Images: 4\n" in r.out
    assert " Total Memory: 8GiB\n" in r.out
    assert r.err == "WARNING: x\n"
    assert run(daemon, "system", "info", "-f", "{{.NCPU}} {{.ClientInfo.Context}}").out == (
        "4 default\n")


# --- images ----------------------------------------------------------------------------

IMAGES = [
    {"Id": IMG_A, "ParentId": "", "RepoTags": ["busybox:latest", "busybox:1.36"],
     "RepoDigests": ["busybox@sha256:" + "d" * 64], "Created": int(NOW) - 7200,
     "Size": 4_261_000, "SharedSize": -1, "Labels": {}, "Containers": -1},
    {"Id": IMG_B, "ParentId": "", "RepoTags": [], "RepoDigests": [],
     "Created": int(NOW) - 3 * 86400, "Size": 1_000_000_000, "SharedSize": -1,
     "Labels": None, "Containers": -1},
]


def test_images_table(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/images/json", Reply(json_body=IMAGES))
    r = run(daemon, "images")
    assert r.status == 0
    assert r.out.splitlines() == [
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE",
        "busybox      latest    aaaaaaaaaaaa   2 hours ago   4.26MB",
        "busybox      1.36      aaaaaaaaaaaa   2 hours ago   4.26MB",
        "<none>       <none>    bbbbbbbbbbbb   3 days ago    1GB",
    ]


def test_images_quiet_digests_notrunc(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/images/json", Reply(json_body=IMAGES))
    assert run(daemon, "image", "ls", "-q").out == "aaaaaaaaaaaa\naaaaaaaaaaaa\nbbbbbbbbbbbb\n"
    r = run(daemon, "images", "--digests", "--no-trunc")
    header, first = r.out.splitlines()[:2]
    assert header.split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    assert "sha256:" + "d" * 64 in first and IMG_A in first


def test_images_format_and_filter(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/images/json", Reply(json_body=IMAGES))
    r = run(daemon, "images", "--format", "{{.Repository}}:{{.Tag}}", "-f", "dangling=false",
            "busybox")
    assert r.out == "busybox:latest\nbusybox:1.36\n<none>:<none>\n"
    q = daemon.last("GET", "/images/json").query
    assert json.loads(q["filters"]) == {"dangling": {"false": True},
                                        "reference": {"busybox": True}}
    r = run(daemon, "images", "--format", "table {{.ID}}\\t{{.Size}}")
    assert r.out.splitlines()[0] == "IMAGE ID       SIZE"
    r = run(daemon, "images", "--format", "json")
    first = json.loads(r.out.splitlines()[0])
    assert first["Repository"] == "busybox" and first["Size"] == "4.26MB"


def test_images_bad_filter(daemon: FakeDaemon) -> None:
    r = run(daemon, "images", "-f", "dangling")
    assert r.status == 125
    assert "bad format of filter (expected name=value)" in r.err


PULL_STREAM = [
    {"status": "Pulling from library/busybox", "id": "latest"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "abc123"},
    {"status": "Downloading", "progressDetail": {"current": 100, "total": 2000},
     "progress": "[=>   ]  100B/2kB", "id": "abc123"},
    {"status": "Download complete", "progressDetail": {}, "id": "abc123"},
    {"status": "Extracting", "progressDetail": {"current": 2000, "total": 2000},
     "id": "abc123"},
    {"status": "Pull complete", "progressDetail": {}, "id": "abc123"},
    {"status": "Digest: sha256:" + "d" * 64},
    {"status": "Status: Downloaded newer image for busybox:latest"},
]


def test_pull_plain_lines(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/images/create", Reply(chunks=lines(*PULL_STREAM)))
    r = run(daemon, "pull", "busybox")
    assert r.status == 0
    assert r.out.splitlines() == [
        "Using default tag: latest",
        "latest: Pulling from library/busybox",
        "abc123: Pulling fs layer",
        "abc123: Download complete",
        "abc123: Pull complete",
        "Digest: sha256:" + "d" * 64,
        "Status: Downloaded newer image for busybox:latest",
        "docker.io/library/busybox:latest",
    ]
    req = daemon.last("POST", "/images/create")
    assert req.query == {"fromImage": "docker.io/library/busybox", "tag": "latest"}


def test_pull_quiet_platform(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/images/create", Reply(chunks=lines(*PULL_STREAM)))
    r = run(daemon, "pull", "-q", "--platform", "linux/arm64", "localhost:5000/x/y:v1")
    assert r.out == "localhost:5000/x/y:v1\n"
    assert daemon.last().query["platform"] == "linux/arm64"


def test_pull_error_in_stream(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/images/create", Reply(chunks=lines(
        {"status": "Pulling from library/nope", "id": "latest"},
        {"errorDetail": {"message": "manifest unknown"}, "error": "manifest unknown"})))
    r = run(daemon, "pull", "nope")
    assert r.status == 1
    assert r.err == "Error response from daemon: manifest unknown\n"


def test_pull_sends_stored_credentials(daemon: FakeDaemon, tmp_path: Path) -> None:
    import base64
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"localhost:5000": {
        "auth": base64.b64encode(b"me:secret").decode()}}}))
    daemon.route("POST", "/images/create", Reply(chunks=lines({"status": "ok"})))
    run(daemon, "pull", "localhost:5000/x", config=tmp_path)
    header = daemon.last().headers["X-Registry-Auth"]
    auth = json.loads(base64.urlsafe_b64decode(header))
    assert auth["username"] == "me" and auth["password"] == "secret"


def test_push(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/images/.*/push", Reply(chunks=lines(
        {"status": "The push refers to repository [localhost:5000/x]"},
        {"status": "Preparing", "progressDetail": {}, "id": "abc"},
        {"status": "Pushed", "progressDetail": {}, "id": "abc"},
        {"status": "v1: digest: sha256:" + "e" * 64 + " size: 527"},
        {"progressDetail": {}, "aux": {"Tag": "v1", "Digest": "sha256:e", "Size": 527}})))
    r = run(daemon, "push", "localhost:5000/x:v1")
    assert r.status == 0
    assert r.out.splitlines() == [
        "The push refers to repository [localhost:5000/x]", "abc: Preparing", "abc: Pushed",
        "v1: digest: sha256:" + "e" * 64 + " size: 527"]


def test_rmi(daemon: FakeDaemon) -> None:
    daemon.route("DELETE", "/images/busybox", Reply(json_body=[
        {"Untagged": "busybox:latest"}, {"Deleted": IMG_A}]))
    daemon.route("DELETE", "/images/nope", error(404, "No such image: nope:latest"))
    r = run(daemon, "rmi", "-f", "busybox", "nope")
    assert r.status == 1
    assert r.out == f"Untagged: busybox:latest\nDeleted: {IMG_A}\n"
    assert r.err == "Error response from daemon: No such image: nope:latest\n"
    assert daemon.last("DELETE", "/images/busybox").query == {"force": "1"}


def test_history(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/images/busybox/history", Reply(json_body=[
        {"Id": IMG_A, "Created": int(NOW) - 90, "CreatedBy": "/bin/sh -c #(nop)  CMD [\"sh\"]",
         "Size": 0, "Comment": "", "Tags": ["busybox:latest"]},
        {"Id": "<missing>", "Created": int(NOW) - 90,
         "CreatedBy": "/bin/sh -c #(nop) ADD file:" + "f" * 64 + " in / ",
         "Size": 4_261_000, "Comment": "buildkit"}]))
    r = run(daemon, "history", "busybox")
    assert r.out.splitlines() == [
        "IMAGE          CREATED              CREATED BY                                      "
        "SIZE      COMMENT",
        "aaaaaaaaaaaa   About a minute ago   /bin/sh -c #(nop)  CMD [\"sh\"]                   "
        "0B        ",
        "<missing>      About a minute ago   /bin/sh -c #(nop) ADD file:fffffffffffffffff…   "
        "4.26MB    buildkit",
    ]
    assert run(daemon, "history", "-q", "busybox").out == "aaaaaaaaaaaa\n<missing>\n"


def test_save_and_load(daemon: FakeDaemon, tmp_path: Path) -> None:
    daemon.route("GET", "/images/get", Reply(chunks=[b"tar", b"ball"],
                                             content_type="application/x-tar"))
    target = tmp_path / "out.tar"
    r = run(daemon, "save", "-o", str(target), "busybox", "alpine:3")
    assert r.status == 0 and target.read_bytes() == b"tarball"
    assert daemon.last("GET", "/images/get").query == {"names": ["busybox", "alpine:3"]}
    daemon.route("POST", "/images/load", Reply(chunks=lines(
        {"stream": "Loaded image: busybox:latest\n"})))
    r = run(daemon, "load", "-i", str(target))
    assert (r.status, r.out) == (0, "Loaded image: busybox:latest\n")
    assert daemon.last("POST", "/images/load").body == b"tarball"
    r = run(daemon, "load", "-i", str(tmp_path / "missing.tar"))
    assert r.status == 1 and "no such file or directory" in r.err


def test_import(daemon: FakeDaemon, tmp_path: Path) -> None:
    src = tmp_path / "rootfs.tar"
    src.write_bytes(b"layer")
    daemon.route("POST", "/images/create", Reply(chunks=lines({"status": IMG_A})))
    r = run(daemon, "import", "-c", "CMD [\"sh\"]", "-m", "hi", str(src), "me/img:v1")
    assert r.out == IMG_A + "\n"
    req = daemon.last()
    assert req.query == {"fromSrc": "-", "repo": "me/img", "tag": "v1",
                         "changes": 'CMD ["sh"]', "message": "hi"}
    assert req.body == b"layer"


# --- login / logout --------------------------------------------------------------------


def test_login_password_stdin_and_logout(daemon: FakeDaemon, tmp_path: Path) -> None:
    daemon.route("POST", "/auth", Reply(json_body={"Status": "Login Succeeded",
                                                   "IdentityToken": ""}))
    r = run(daemon, "login", "-u", "me", "--password-stdin", "localhost:5000",
            stdin="s3cret\n", config=tmp_path)
    assert (r.status, r.out) == (0, "Login Succeeded\n")
    assert daemon.last("POST", "/auth").json() == {
        "username": "me", "password": "s3cret", "serveraddress": "localhost:5000"}
    stored = json.loads((tmp_path / "config.json").read_text())
    assert "localhost:5000" in stored["auths"]
    r = run(daemon, "logout", "localhost:5000", config=tmp_path)
    assert r.out == "Removing login credentials for localhost:5000\n"
    r = run(daemon, "logout", "localhost:5000", config=tmp_path)
    assert r.out == "Not logged in to localhost:5000\n"


def test_login_rejected(daemon: FakeDaemon, tmp_path: Path) -> None:
    daemon.route("POST", "/auth", error(401, "login attempt to http://x/v2/ failed with "
                                             "status: 401 Unauthorized"))
    r = run(daemon, "login", "-u", "me", "-p", "bad", "x", config=tmp_path)
    assert r.status == 1
    assert r.err.startswith("WARNING! Using --password via the CLI is insecure.")
    assert "Error response from daemon: login attempt" in r.err
    assert not (tmp_path / "config.json").exists()


def test_login_flag_conflicts(tmp_path: Path) -> None:
    r = run(None, "login", "--password-stdin", config=tmp_path)
    assert (r.status, r.err) == (1, "Must provide --username with --password-stdin\n")


# --- containers ------------------------------------------------------------------------

CONTAINERS = [
    {"Id": "1" * 64, "Names": ["/web"], "Image": "nginx:latest", "ImageID": IMG_A,
     "Command": "/docker-entrypoint.sh nginx -g 'daemon off;'", "Created": int(NOW) - 300,
     "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
               {"PrivatePort": 443, "Type": "tcp"}],
     "Labels": {"a": "b"}, "State": "running", "Status": "Up 5 minutes",
     "HostConfig": {"NetworkMode": "bridge"},
     "NetworkSettings": {"Networks": {"bridge": {}}}, "Mounts": []},
    {"Id": "2" * 64, "Names": ["/job"], "Image": "busybox", "ImageID": IMG_B,
     "Command": "echo hi", "Created": int(NOW) - 7200, "Ports": [], "Labels": {},
     "State": "exited", "Status": "Exited (0) 2 hours ago", "Mounts": [],
     "NetworkSettings": {"Networks": {}}},
]


def test_ps_table(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/json", Reply(json_body=CONTAINERS))
    r = run(daemon, "ps", "-a")
    assert r.out.splitlines() == [
        "CONTAINER ID   IMAGE          COMMAND                  CREATED         STATUS"
        "                   PORTS                           NAMES",
        "111111111111   nginx:latest   \"/docker-entrypoint.…\"   5 minutes ago   Up 5 minutes"
        "             443/tcp, 0.0.0.0:8080->80/tcp   web",  # docker: host mappings last
        "222222222222   busybox        \"echo hi\"                2 hours ago     Exited (0) 2 "
        "hours ago                                   job",
    ]
    assert daemon.last().query == {"all": "1"}


def test_ps_quiet_format_filter(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/json", Reply(json_body=CONTAINERS))
    assert run(daemon, "ps", "-aq").out == "111111111111\n222222222222\n"
    assert run(daemon, "container", "ls", "-q", "--no-trunc").out.split() == [
        "1" * 64, "2" * 64]
    r = run(daemon, "ps", "--format", "{{.Names}} {{.State}} {{.Label \"a\"}}",
            "--filter", "status=running", "-f", "label=a=b")
    assert r.out == "web running b\njob exited \n"
    assert json.loads(daemon.last().query["filters"]) == {
        "status": {"running": True}, "label": {"a=b": True}}
    r = run(daemon, "ps", "--format", "table {{.ID}}\\t{{.Image}}")
    assert r.out.splitlines() == ["CONTAINER ID   IMAGE", "111111111111   nginx:latest",
                                  "222222222222   busybox"]
    r = run(daemon, "ps", "--format", "{{json .}}")
    assert json.loads(r.out.splitlines()[0])["Ports"] == "443/tcp, 0.0.0.0:8080->80/tcp"
    run(daemon, "ps", "-n", "1")
    assert daemon.last().query == {"all": "1", "limit": "1"}


def test_ps_bad_template(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/json", Reply(json_body=CONTAINERS))
    r = run(daemon, "ps", "--format", "{{.Nope}}")
    assert r.status == 1 and "can't evaluate field Nope" in r.err


def test_inspect_format(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/web/json", Reply(json_body={
        "Id": "1" * 64, "Name": "/web", "State": {"Status": "running", "Pid": 42},
        "Config": {"Labels": {"x": "y"}, "Env": ["A=1", "B=2"]}}))
    daemon.route("GET", "/images/busybox/json", Reply(json_body={"Id": IMG_A, "RepoTags": [
        "busybox:latest"]}))
    r = run(daemon, "inspect", "--format", "{{.State.Status}} {{.State.Pid}}", "web")
    assert r.out == "running 42\n"
    r = run(daemon, "inspect", "-f", "{{json .Config.Labels}} {{join .Config.Env \",\"}}",
            "web")
    assert r.out == '{"x":"y"} A=1,B=2\n'
    r = run(daemon, "inspect", "busybox")
    assert json.loads(r.out)[0]["Id"] == IMG_A
    r = run(daemon, "inspect", "web", "ghost")
    assert r.status == 1 and r.err == "Error: No such object: ghost\n"
    assert json.loads(r.out)[0]["Name"] == "/web"
    r = run(daemon, "image", "inspect", "-f", "{{index .RepoTags 0}}", "busybox")
    assert r.out == "busybox:latest\n"
    r = run(daemon, "container", "inspect", "busybox")
    assert (r.status, r.err) == (1, "Error: No such container: busybox\n")
    # no --type: containers, images, networks, volumes, in docker's order
    daemon.route("GET", "/networks/front", Reply(json_body={"Name": "front"}))
    daemon.route("GET", "/volumes/data", Reply(json_body={"Name": "data"}))
    r = run(daemon, "inspect", "-f", "{{.Name}}", "front", "data")
    assert (r.status, r.out) == (0, "front\ndata\n")
    r = run(daemon, "inspect", "--type", "volume", "front")
    assert (r.status, r.err) == (1, "Error: No such object: front\n")


def test_simple_container_verbs(daemon: FakeDaemon) -> None:
    for verb in ("stop", "kill", "pause", "unpause", "restart"):
        daemon.route("POST", f"/containers/c/{verb}", Reply(204))
    assert run(daemon, "stop", "-t", "3", "c").out == "c\n"
    assert daemon.last().query == {"t": "3"}
    assert run(daemon, "kill", "-s", "HUP", "c").out == "c\n"
    assert daemon.last().query == {"signal": "HUP"}
    assert run(daemon, "pause", "c").out == "c\n"
    assert run(daemon, "container", "unpause", "c").out == "c\n"
    assert run(daemon, "restart", "c").out == "c\n"
    daemon.route("POST", "/containers/c/rename", Reply(204))
    assert run(daemon, "rename", "c", "d").status == 0
    assert daemon.last().query == {"name": "d"}


def test_wait(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/containers/c/wait", Reply(json_body={"StatusCode": 3,
                                                                "Error": None}))
    r = run(daemon, "wait", "c")
    assert (r.status, r.out) == (0, "3\n")


def test_logs(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/c/json", Reply(json_body={"Config": {"Tty": False}}))
    daemon.route("GET", "/containers/c/logs", Reply(chunks=[
        frame(1, b"out line\n"), frame(2, b"err line\n")]))
    r = run(daemon, "logs", "-f", "-t", "--tail", "10", "--since", "1700000000", "c")
    assert (r.out, r.err) == ("out line\n", "err line\n")
    assert daemon.last("GET", "/containers/c/logs").query == {
        "stdout": "1", "stderr": "1", "follow": "1", "timestamps": "1", "tail": "10",
        "since": "1700000000"}


def test_logs_relative_since(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/c/json", Reply(json_body={"Config": {"Tty": True}}))
    daemon.route("GET", "/containers/c/logs", Reply(chunks=[b"tty output\r\n"]))
    before = NOW  # the CLI's clock is frozen at NOW in these tests
    r = run(daemon, "logs", "--since", "1m", "c")
    assert r.out == "tty output\r\n"
    since = float(daemon.last("GET", "/containers/c/logs").query["since"])
    assert before - 61 < since < before - 59


def test_top(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/c/top", Reply(json_body={
        "Titles": ["UID", "PID", "CMD"], "Processes": [["root", "1", "sleep 100"]]}))
    r = run(daemon, "top", "c", "-ef")
    assert r.out.splitlines() == ["UID                 PID                 CMD",
                                  "root                1                   sleep 100"]
    assert daemon.last().query == {"ps_args": "-ef"}


def test_start_attach(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/c/json", Reply(json_body={"Config": {"Tty": False}}))
    daemon.route("POST", "/containers/c/attach", Reply(hijack=frame(1, b"hi\n")))
    daemon.route("POST", "/containers/c/start", Reply(204))
    daemon.route("POST", "/containers/c/wait", Reply(json_body={"StatusCode": 7}))
    r = run(daemon, "start", "-a", "c")
    assert (r.status, r.out) == (7, "hi\n")
