"""The real docker CLI (on PATH) against dockyardd: run (attached, exit codes, --rm, -i),
run -d + logs + stop + rm, ps --format, inspect. busybox is seeded into the daemon's data
root; hermetic as test_api_containers_support.container_daemon. Skipped without docker."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]

DOCKER = shutil.which("docker")


def test_run_rm_echo(cli):
    r = cli("run", "--rm", "busybox", "echo", "hi")
    assert r.stdout == "hi\n"
    assert cli("ps", "-a", "-q").stdout.strip() == ""


def test_run_exit_code_propagates(cli):
    r = cli("run", "--rm", "busybox", "sh", "-c", "echo bye >&2; exit 3", check=False)
    assert r.returncode == 3, r.stderr
    assert r.stderr == "bye\n"


def test_run_interactive_stdin(cli):
    r = cli("run", "--rm", "-i", "busybox", "cat", input="piped in\n")
    assert r.stdout == "piped in\n"


def test_run_detached_logs_stop_rm(cli):
    cid = cli("run", "-d", "--name", "dyc-cli-d", "busybox", "sh", "-c",
              "echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done").stdout.strip()
    assert len(cid) == 64
    out = cli("ps", "--format", "{{.Names}} {{.Image}} {{.Status}}").stdout
    assert "dyc-cli-d busybox Up" in out
    assert cli("inspect", "--format", "{{.State.Status}} {{.Config.Image}}",
               "dyc-cli-d").stdout.strip() == "running busybox"
    ip = cli("inspect", "--format", "{{.NetworkSettings.IPAddress}}", "dyc-cli-d").stdout
    assert ip.strip().count(".") == 3
    for _ in range(50):
        if cli("logs", "dyc-cli-d").stdout == "started\n":
            break
        import time

        time.sleep(0.1)
    assert cli("logs", "dyc-cli-d").stdout == "started\n"
    assert cli("stop", "-t", "5", "dyc-cli-d").stdout.strip() == "dyc-cli-d"
    assert cli("inspect", "--format", "{{.State.ExitCode}}", "dyc-cli-d").stdout.strip() \
        == "0"
    out = cli("ps", "-a", "--format", "{{.ID}} {{.Status}}").stdout
    assert f"{cid[:12]} Exited (0)" in out
    assert cli("rm", "dyc-cli-d").stdout.strip() == "dyc-cli-d"
    r = cli("inspect", "dyc-cli-d", check=False)
    assert r.returncode != 0 and "No such" in r.stderr


def test_create_start_attach_wait_kill_rm(cli):
    cid = cli("create", "--name", "dyc-cli-c", "busybox", "sh", "-c", "echo again").stdout
    assert len(cid.strip()) == 64
    assert cli("start", "-a", "dyc-cli-c").stdout == "again\n"
    assert cli("start", "-a", "dyc-cli-c").stdout == "again\n"  # only this run's output
    assert cli("wait", "dyc-cli-c").stdout.strip() == "0"
    assert cli("logs", "dyc-cli-c").stdout == "again\nagain\n"
    cli("run", "-d", "--name", "dyc-cli-k", "busybox", "sleep", "300")
    assert cli("kill", "dyc-cli-k").stdout.strip() == "dyc-cli-k"
    assert cli("wait", "dyc-cli-k").stdout.strip() == "137"
    r = cli("kill", "dyc-cli-k", check=False)
    assert r.returncode == 1 and "is not running" in r.stderr
    cli("rm", "-f", "dyc-cli-c", "dyc-cli-k")
    assert "dyc-cli" not in cli("ps", "-a", "--format", "{{.Names}}").stdout


@pytest.mark.parametrize("args,code,err", [
    (["run", "--no-such-flag", "busybox"], 125, "unknown flag: --no-such-flag"),
    (["run", "--rm", "dyc-no-such-image-x:v0"], 125, "dyc-no-such-image-x"),
    (["run", "--rm", "busybox", "/etc"], 126, "permission denied"),
    (["run", "--rm", "busybox", "dyc-no-such-command"], 127, "dyc-no-such-command"),
    (["run", "--rm", "busybox", "sh", "-c", "exit 255"], 255, ""),
])
def test_exit_codes_propagate(cli, args, code, err):
    r = cli(*args, check=False)
    assert r.returncode == code, (r.returncode, r.stderr)
    assert err in r.stderr
    if code in (126, 127):
        assert "docker: Error response from daemon: " in r.stderr


@pytest.mark.parametrize("sig,code,init", [("KILL", 137, []), ("TERM", 143, ["--init"]),
                                           ("USR1", 138, ["--init"])])
def test_signal_exit_codes_propagate_through_run(cli, sig, code, init):
    """128+N: the container's process dies of a signal sent from outside (`docker kill`;
    PID 1 without a handler only dies of SIGKILL, so the others go through --init)."""
    name = f"dyc-cli-sig-{sig.lower()}-{os.getpid()}"
    env = {**os.environ, "DOCKER_CLI_HINTS": "false"}
    run = subprocess.Popen([DOCKER, "-H", cli.url, "run", "--rm", *init, "--name", name,
                            "busybox", "sh", "-c", "echo up; exec sleep 300"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           stdin=subprocess.DEVNULL)
    try:
        assert run.stdout.readline() == b"up\n"
        cli("kill", "-s", sig, name)
        assert run.wait(timeout=30) == code
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        run.stdout.close()
        run.stderr.close()
        cli("rm", "-f", name, check=False)


def test_commit_and_run_the_committed_image(cli):
    name = f"dyc-cli-commit-{os.getpid()}"
    image = f"dyc-committed-{os.getpid()}:v1"
    cli("run", "--name", name, "busybox", "sh", "-c", "echo made-here > /made.txt")
    try:
        image_id = cli("commit", "-m", "from the test", "-a", "dyc tests",
                       "-c", "ENV DYC=yes", "-c", 'CMD ["cat", "/made.txt"]',
                       name, image).stdout.strip()
        assert image_id.startswith("sha256:")
        out = cli("image", "inspect", "--format",
                  "{{.Comment}}|{{.Author}}|{{.Config.Cmd}}|{{.Id}}", image).stdout.strip()
        assert out == f'from the test|dyc tests|[cat /made.txt]|{image_id}'
        assert cli("run", "--rm", image).stdout == "made-here\n"
        assert cli("run", "--rm", image, "sh", "-c", "echo $DYC").stdout == "yes\n"
        assert len(cli("history", "-q", image).stdout.split()) >= 2
    finally:
        cli("rm", "-f", name, check=False)
        cli("rmi", image, check=False)
