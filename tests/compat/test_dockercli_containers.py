"""The real docker CLI (on PATH) against dockyardd: run (attached, exit codes, --rm, -i),
run -d + logs + stop + rm, ps --format, inspect. busybox is seeded into the daemon's data
root; hermetic as test_api_containers_support.container_daemon. Skipped without docker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_api_containers_support import container_daemon, usable

pytestmark = [pytest.mark.compat, pytest.mark.root]

DOCKER = shutil.which("docker")


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    if DOCKER is None:
        pytest.skip("the docker CLI is not on PATH")
    if (why := usable()) is not None:
        pytest.skip(why)
    config = tmp_path_factory.mktemp("dockercfg")
    with container_daemon() as d:
        def run(*args: str, check: bool = True, timeout: float = 60, input: str | None = None):
            env = {**os.environ, "DOCKER_CONFIG": str(config), "DOCKER_CLI_HINTS": "false"}
            env.pop("DOCKER_HOST", None)
            env.pop("DOCKER_API_VERSION", None)
            r = subprocess.run([DOCKER, "-H", d.url, *args], capture_output=True, text=True,
                               timeout=timeout, env=env, input=input,
                               stdin=None if input is not None else subprocess.DEVNULL)
            if check and r.returncode != 0:
                raise AssertionError(f"docker {' '.join(args)} exited {r.returncode}\n"
                                     f"stdout: {r.stdout}\nstderr: {r.stderr}\n"
                                     f"daemon log: {d.d.log_text()}")
            return r

        yield run


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
