"""``run`` and ``create`` against the fake daemon: the flow, exit codes, flag mapping."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from test_client_fakedaemon import FakeDaemon, Reply, error, frame, lines
from test_client_fakedaemon import run_cli as run

pytestmark = pytest.mark.unit

CID = "c" * 64


def _container_routes(d: FakeDaemon, status: int = 0, output: bytes = b"hello\n") -> None:
    d.route("POST", "/containers/create", Reply(201, {"Id": CID, "Warnings": []}))
    d.route("POST", f"/containers/{CID}/attach", Reply(hijack=frame(1, output)))
    d.route("POST", f"/containers/{CID}/wait", Reply(200, {"StatusCode": status}))
    d.route("POST", f"/containers/{CID}/start", Reply(204))


def _paths(d: FakeDaemon) -> list[str]:
    return [f"{r.method} {r.path}" for r in d.requests]


def test_run_pulls_on_missing_image_then_runs(daemon: FakeDaemon) -> None:
    _container_routes(daemon, status=3)
    created = []

    def create(req: Any) -> Reply:
        created.append(req.json())
        if len(created) == 1:
            return error(404, "No such image: busybox:latest")
        return Reply(201, {"Id": CID, "Warnings": []})

    daemon.route("POST", "/containers/create", create)
    daemon.route("POST", "/images/create", Reply(chunks=lines(
        {"status": "Pulling from library/busybox", "id": "latest"},
        {"status": "Pull complete", "id": "abc"},
        {"status": "Digest: sha256:" + "d" * 64},
        {"status": "Status: Downloaded newer image for busybox:latest"})))
    status, out, err = run(daemon, "run", "busybox", "echo", "hello")
    assert status == 3
    assert out == "hello\n"
    assert err.startswith("Unable to find image 'busybox:latest' locally\n")
    assert "abc: Pull complete" in err
    assert "Status: Downloaded newer image for busybox:latest" in err
    assert _paths(daemon) == [
        "POST /containers/create", "POST /images/create", "POST /containers/create",
        f"POST /containers/{CID}/attach", f"POST /containers/{CID}/wait",
        f"POST /containers/{CID}/start"]
    assert daemon.last("POST", "/images/create").query["fromImage"].endswith("busybox")
    body = created[1]
    assert body["Image"] == "busybox" and body["Cmd"] == ["echo", "hello"]
    assert body["AttachStdout"] and body["AttachStderr"] and not body["AttachStdin"]
    assert body["HostConfig"]["AutoRemove"] is False
    attach = daemon.last("POST", f"/containers/{CID}/attach").query
    assert attach["stream"] == "1" and attach["stdout"] == "1" and attach["stdin"] == "0"
    assert daemon.last("POST", f"/containers/{CID}/wait").query == {"condition": "next-exit"}


def test_run_rm_sends_autoremove_and_waits_for_removal(daemon: FakeDaemon) -> None:
    _container_routes(daemon)
    status, out, _ = run(daemon, "run", "--rm", "busybox", "true")
    assert status == 0 and out == "hello\n"
    assert daemon.last("POST", "/containers/create").json()["HostConfig"]["AutoRemove"] is True
    assert daemon.last("POST", f"/containers/{CID}/wait").query == {"condition": "removed"}


def test_run_detached_prints_id(daemon: FakeDaemon) -> None:
    _container_routes(daemon)
    status, out, err = run(daemon, "run", "-d", "--name", "web", "busybox", "sleep", "9")
    assert (status, out, err) == (0, CID + "\n", "")
    assert _paths(daemon) == ["POST /containers/create", f"POST /containers/{CID}/start"]
    create = daemon.last("POST", "/containers/create")
    assert create.query == {"name": "web"}
    body = create.json()
    assert not body["AttachStdout"] and not body["AttachStderr"]


def test_create_prints_id(daemon: FakeDaemon) -> None:
    _container_routes(daemon)
    assert run(daemon, "create", "busybox") == (0, CID + "\n", "")
    assert daemon.last("POST", "/containers/create").json()["Cmd"] is None


def test_run_pull_never_does_not_pull(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/containers/create", error(404, "No such image: busybox:latest"))
    status, _, err = run(daemon, "run", "--pull", "never", "busybox")
    assert status == 125
    assert err == ("dockyard: Error response from daemon: No such image: busybox:latest\n\n"
                   "Run 'dockyard run --help' for more information\n")
    assert _paths(daemon) == ["POST /containers/create"]


def test_run_pull_always_pulls_first(daemon: FakeDaemon) -> None:
    _container_routes(daemon)
    daemon.route("POST", "/images/create", Reply(chunks=lines({"status": "ok"})))
    assert run(daemon, "run", "--pull=always", "-d", "busybox")[0] == 0
    assert _paths(daemon)[:2] == ["POST /images/create", "POST /containers/create"]


def test_run_pull_error(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/containers/create", error(404, "No such image: nope:latest"))
    daemon.route("POST", "/images/create", error(
        404, "pull access denied for nope, repository does not exist"))
    status, _, err = run(daemon, "run", "nope")
    assert status == 125
    assert err == ("Unable to find image 'nope:latest' locally\n"
                   "dockyard: Error response from daemon: pull access denied for nope, "
                   "repository does not exist\n\nRun 'dockyard run --help' for more "
                   "information\n")


@pytest.mark.parametrize(("message", "code"), [
    ('exec: "nope": executable file not found in $PATH', 127),
    ("exec /etc/passwd: permission denied", 126),
    ("cgroup setup failed", 125),
])
def test_run_start_errors(daemon: FakeDaemon, message: str, code: int) -> None:
    _container_routes(daemon)
    daemon.route("POST", f"/containers/{CID}/start", error(400, message))
    status, _, err = run(daemon, "run", "busybox", "nope")
    assert status == code
    assert err == (f"dockyard: Error response from daemon: {message}\n\n"
                   "Run 'dockyard run --help' for more information\n")
    status, _, _ = run(daemon, "run", "-d", "busybox", "nope")
    assert status == code


def test_run_bad_flag_value(daemon: FakeDaemon) -> None:
    status, out, err = run(daemon, "run", "-m", "5x", "busybox")
    assert (status, out) == (125, "")
    assert err == ('invalid argument "5x" for "-m, --memory" flag: invalid suffix: \'x\'\n\n'
                   "Usage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
                   "Run 'dockyard run --help' for more information\n")
    assert daemon.requests == []


def test_run_needs_image(daemon: FakeDaemon) -> None:
    status, _, err = run(daemon, "run")
    assert status == 1
    assert err.startswith("dockyard: 'dockyard run' requires at least 1 argument\n")


def test_run_options_after_image_are_the_command(daemon: FakeDaemon) -> None:
    _container_routes(daemon)
    run(daemon, "run", "-d", "busybox", "ls", "-l", "--rm")
    body = daemon.last("POST", "/containers/create").json()
    assert body["Cmd"] == ["ls", "-l", "--rm"] and not body["HostConfig"]["AutoRemove"]


def test_run_interactive_sends_stdin(daemon: FakeDaemon) -> None:
    _container_routes(daemon)
    daemon.route("POST", f"/containers/{CID}/attach", Reply(hijack=b"", read_stdin=True))
    status, out, _ = run(daemon, "run", "-i", "busybox", "cat", stdin="typed\n")
    assert (status, out) == (0, "typed\n")
    body = daemon.last("POST", "/containers/create").json()
    assert body["OpenStdin"] and body["AttachStdin"] and body["StdinOnce"]


def test_run_tty_needs_terminal(daemon: FakeDaemon) -> None:
    assert run(daemon, "run", "-it", "busybox") == (1, "", "the input device is not a TTY\n")


def test_run_wait_error_message(daemon: FakeDaemon) -> None:
    _container_routes(daemon)
    daemon.route("POST", f"/containers/{CID}/wait",
                 Reply(200, {"StatusCode": 0, "Error": {"Message": "removal failed"}}))
    status, _, err = run(daemon, "run", "busybox")
    assert status == 125 and err == "removal failed\n"


# --- flags → Config / HostConfig ---------------------------------------------------------

def _body(daemon: FakeDaemon, *flags: str) -> dict[str, Any]:
    _container_routes(daemon)
    status, _, err = run(daemon, "create", *flags, "busybox")
    assert status == 0, err
    return daemon.last("POST", "/containers/create").json()


MAPPING: list[tuple[list[str], str, Any]] = [
    (["-e", "A=1", "-e", "B=2"], "Env", ["A=1", "B=2"]),
    (["-w", "/tmp"], "WorkingDir", "/tmp"),
    (["-u", "1000:1000"], "User", "1000:1000"),
    (["--entrypoint", "/bin/sh"], "Entrypoint", ["/bin/sh"]),
    (["--entrypoint", ""], "Entrypoint", [""]),
    (["-l", "a=b", "--label", "c"], "Labels", {"a": "b", "c": ""}),
    (["-t"], "Tty", True),
    (["-i"], "OpenStdin", True),
    (["--hostname", "box"], "Hostname", "box"),
    (["--stop-signal", "SIGUSR1"], "StopSignal", "SIGUSR1"),
    (["--stop-timeout", "7"], "StopTimeout", 7),
    (["--rm"], "HostConfig.AutoRemove", True),
    (["-m", "512m"], "HostConfig.Memory", 512 << 20),
    (["--memory", "1g", "--memory-swap", "2g"], "HostConfig.MemorySwap", 2 << 30),
    (["--memory-swap", "-1"], "HostConfig.MemorySwap", -1),
    (["--cpus", "1.5"], "HostConfig.NanoCpus", 1_500_000_000),
    (["--cpu-shares", "512"], "HostConfig.CpuShares", 512),
    (["-c", "256"], "HostConfig.CpuShares", 256),
    (["--cpuset-cpus", "0-1"], "HostConfig.CpusetCpus", "0-1"),
    (["--pids-limit", "50"], "HostConfig.PidsLimit", 50),
    (["--ulimit", "nofile=1024:2048", "--ulimit", "nproc=64"], "HostConfig.Ulimits",
     [{"Name": "nofile", "Soft": 1024, "Hard": 2048}, {"Name": "nproc", "Soft": 64,
                                                       "Hard": 64}]),
    (["--cap-add", "NET_ADMIN", "--cap-add", "SYS_TIME"], "HostConfig.CapAdd",
     ["NET_ADMIN", "SYS_TIME"]),
    (["--cap-drop", "ALL"], "HostConfig.CapDrop", ["ALL"]),
    (["--privileged"], "HostConfig.Privileged", True),
    (["--device", "/dev/fuse"], "HostConfig.Devices",
     [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}]),
    (["--device", "/dev/sda:/dev/xvda:r"], "HostConfig.Devices",
     [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/xvda", "CgroupPermissions": "r"}]),
    (["--security-opt", "no-new-privileges", "--security-opt", "seccomp=unconfined"],
     "HostConfig.SecurityOpt", ["no-new-privileges=true", "seccomp=unconfined"]),
    (["--sysctl", "net.ipv4.ip_forward=1"], "HostConfig.Sysctls",
     {"net.ipv4.ip_forward": "1"}),
    (["--shm-size", "128m"], "HostConfig.ShmSize", 128 << 20),
    (["--oom-kill-disable"], "HostConfig.OomKillDisable", True),
    (["--restart", "on-failure:3"], "HostConfig.RestartPolicy",
     {"Name": "on-failure", "MaximumRetryCount": 3}),
    (["--restart", "unless-stopped"], "HostConfig.RestartPolicy",
     {"Name": "unless-stopped", "MaximumRetryCount": 0}),
    (["-v", "/srv:/data:ro"], "HostConfig.Binds", ["/srv:/data:ro"]),
    (["--mount", "type=bind,source=/srv,target=/data,readonly"], "HostConfig.Mounts",
     [{"Type": "bind", "Source": "/srv", "Target": "/data", "ReadOnly": True}]),
    (["--mount", "type=tmpfs,dst=/run,tmpfs-size=64m"], "HostConfig.Mounts",
     [{"Type": "tmpfs", "Target": "/run", "TmpfsOptions": {"SizeBytes": 64 << 20}}]),
    (["--tmpfs", "/run:rw,size=64m", "--tmpfs", "/tmp"], "HostConfig.Tmpfs",
     {"/run": "rw,size=64m", "/tmp": ""}),
    (["--read-only"], "HostConfig.ReadonlyRootfs", True),
    ([], "HostConfig.NetworkMode", "default"),
    (["--network", "none"], "HostConfig.NetworkMode", "none"),
    (["--net", "host"], "HostConfig.NetworkMode", "host"),
    (["--network", "container:web"], "HostConfig.NetworkMode", "container:web"),
    (["--add-host", "db:10.0.0.2", "--add-host", "x=10.0.0.3"], "HostConfig.ExtraHosts",
     ["db:10.0.0.2", "x:10.0.0.3"]),
    (["--dns", "1.1.1.1"], "HostConfig.Dns", ["1.1.1.1"]),
    (["--init"], "HostConfig.Init", True),
    (["--log-driver", "json-file", "--log-opt", "max-size=1m"], "HostConfig.LogConfig",
     {"Type": "json-file", "Config": {"max-size": "1m"}}),
    (["-a", "stdout"], "AttachStderr", False),
    (["-p", "8080:80", "-p", "127.0.0.1::53/udp"], "HostConfig.PortBindings",
     {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
      "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}),
    (["-p", "8080:80"], "ExposedPorts", {"80/tcp": {}}),
    (["--health-cmd", "true", "--health-interval", "1m30s", "--health-retries", "2"],
     "Healthcheck", {"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000,
                     "Retries": 2}),
    (["--no-healthcheck"], "Healthcheck", {"Test": ["NONE"]}),
    (["-a", "STDIN", "-i"], "AttachStdin", True),
]


@pytest.mark.parametrize(("flags", "field", "expected"), MAPPING,
                         ids=[" ".join(m[0]) or "none" for m in MAPPING])
def test_flag_mapping(daemon: FakeDaemon, flags: list[str], field: str,
                      expected: Any) -> None:
    value: Any = _body(daemon, *flags)
    for part in field.split("."):
        value = value[part]
    assert value == expected


def test_init_absent_unless_given(daemon: FakeDaemon) -> None:
    assert "Init" not in _body(daemon)["HostConfig"]


def test_platform_query(daemon: FakeDaemon) -> None:
    _body(daemon, "--platform", "linux/amd64")
    assert daemon.last("POST", "/containers/create").query == {"platform": "linux/amd64"}


def test_env_file_and_passthrough(daemon: FakeDaemon, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nA=1\n\nFROM_HOST\nMISSING_VAR\n")
    monkeypatch.setenv("FROM_HOST", "yes")
    monkeypatch.delenv("MISSING_VAR", raising=False)
    body = _body(daemon, "--env-file", str(env_file), "-e", "FROM_HOST", "-e", "B=2")
    assert body["Env"] == ["A=1", "FROM_HOST=yes", "FROM_HOST=yes", "B=2"]


def test_seccomp_profile_file_is_sent_inline(daemon: FakeDaemon, tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW"}, indent=2))
    body = _body(daemon, "--security-opt", f"seccomp={profile}")
    assert body["HostConfig"]["SecurityOpt"] == ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']


@pytest.mark.parametrize(("flags", "message"), [
    (["--restart", "sometimes"], "invalid restart policy 'sometimes'"),
    (["--restart", "always:3"], "maximum retry count can only be used with 'on-failure'"),
    (["--pull", "foo"], "dockyard: invalid pull option: 'foo': must be one of \"always\", "
     "\"missing\" or \"never\""),
])
def test_bad_values(daemon: FakeDaemon, flags: list[str], message: str) -> None:
    status, _, err = run(daemon, "run", *flags, "busybox")
    assert status == 125
    assert err.startswith(message)


def test_container_run_form(daemon: FakeDaemon) -> None:
    _container_routes(daemon)
    assert run(daemon, "container", "run", "-d", "busybox") == (0, CID + "\n", "")


def test_help_is_dockers(daemon: FakeDaemon) -> None:
    status, out, _ = run(daemon, "run", "--help")
    assert status == 0
    assert out.startswith("Usage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
                          "Create and run a new container from an image\n")
    assert "  -m, --memory bytes                     Memory limit\n" in out


# --- detach keys, help texts ---------------------------------------------------------------

def test_detach_sequence() -> None:
    from dockyard.cli.commands.run import detach_sequence
    from dockyard.cli.context import CLIError
    assert detach_sequence(None) == b"\x10\x11"
    assert detach_sequence("ctrl-x,a") == b"\x18a"
    assert detach_sequence("ctrl-@,ctrl-\\") == b"\x00\x1c"
    with pytest.raises(CLIError):
        detach_sequence("ctrl-pp")


def test_stdin_pump_detaches_on_keys() -> None:
    import socket

    from dockyard.cli.commands.run import StdinPump
    from dockyard.cli.context import Context
    from dockyard.client.transport import Hijacked

    ours, theirs = socket.socketpair()
    ctx = Context(None, "", False, io.StringIO(), io.StringIO(),
                  io.BytesIO(b"ab\x10c\x10\x11zz"))
    pump = StdinPump(ctx, Hijacked(ours, tty=True), b"\x10\x11")
    pump.run()
    assert pump.detached
    got = b""
    while chunk := theirs.recv(100):
        got += chunk
    assert got == b"ab\x10c"  # a partial match is let through; the keys are not sent
    theirs.close()
    ours.close()


@pytest.mark.parametrize("key", ["run", "create", "exec", "attach", "cp", "port", "diff",
                                 "export", "commit", "stats", "update", "events",
                                 "container prune", "image prune", "system df",
                                 "system prune"])
def test_help_matches_docker_binary(key: str, daemon: FakeDaemon) -> None:
    import shutil
    import subprocess
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI")
    theirs = subprocess.run(["docker", *key.split(), "--help"], capture_output=True,
                            text=True, check=False).stdout
    status, ours, _ = run(daemon, *key.split(), "--help")
    assert status == 0
    assert ours == theirs.replace("docker ", "dockyard ")


def test_cidfile(daemon: FakeDaemon, tmp_path: Path) -> None:
    _container_routes(daemon)
    cidfile = tmp_path / "cid"
    assert run(daemon, "run", "-d", "--cidfile", str(cidfile), "busybox")[0] == 0
    assert cidfile.read_text() == CID
    status, _, err = run(daemon, "run", "-d", "--cidfile", str(cidfile), "busybox")
    assert status == 125 and err.startswith("dockyard: Container ID file found")
