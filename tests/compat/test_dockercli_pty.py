"""Interactive use under a pseudo-terminal, with the real docker CLI (on PATH) and our
own CLI against dockyardd: ``run -it`` and ``exec -it`` (typed input reaches the shell,
its output comes back, the exit code propagates), the detach keys (default, flag, and
``detachKeys`` in config.json) for ``run -it``, ``attach`` and ``exec -it``: the
container keeps running; ``run`` exits 0 quietly, ``attach`` and ``exec`` say ``read
escape sequence`` and exit 1, as docker 28 does. Hermetic as container_daemon."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ptyharness import PtyProcess

pytestmark = [pytest.mark.compat, pytest.mark.root]

ROOT = Path(__file__).resolve().parents[2]
CLIS = {"docker": shutil.which("docker"), "dockyard": str(ROOT / ".venv/bin/dockyard")}
BANNER = b"built-in commands"  # busybox sh's greeting on a terminal


@pytest.fixture(params=sorted(CLIS))
def cli(request, daemon, tmp_path):
    binary = CLIS[request.param]
    if binary is None or not os.path.exists(binary):
        pytest.skip(f"{request.param} CLI not found")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DOCKER_HOST", "DOCKER_API_VERSION", "DOCKYARD_HOST")}
    env.update(DOCKER_CONFIG=str(tmp_path), DOCKER_CLI_HINTS="false", TERM="xterm")
    started: list[PtyProcess] = []

    class Cli:
        config = tmp_path / "config.json"
        exe, url, environ = binary, daemon.url, env

        def pty(self, *args: str) -> PtyProcess:
            p = PtyProcess([binary, "-H", daemon.url, *args], env)
            started.append(p)
            return p

        def run(self, *args: str) -> subprocess.CompletedProcess:
            return subprocess.run([binary, "-H", daemon.url, *args], capture_output=True,
                                  text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)

    yield Cli()
    for p in started:
        p.close()


def _running(cli, name: str) -> bool:
    r = cli.run("inspect", "--format", "{{.State.Running}}", name)
    return r.stdout.strip() == "true"


def test_run_it_input_output_exit_code(cli):
    p = cli.pty("run", "-it", "--rm", "busybox", "sh")
    p.read_until(BANNER)
    p.send(b"echo in-$((6*7)); [ -t 0 ] && echo tty-yes; exit 6\r")
    assert p.wait() == 6
    assert b"in-42" in p.output and b"tty-yes" in p.output


def test_exec_it_input_output_exit_code(cli):
    name = f"dyc-pty-{os.getpid()}-exec"
    assert cli.run("run", "-d", "--name", name, "busybox", "sleep", "300").returncode == 0
    try:
        p = cli.pty("exec", "-it", name, "sh")
        p.read_until(BANNER)
        p.send(b"echo ex-$((8*8)) $(tty); exit 5\r")
        assert p.wait() == 5
        assert b"ex-64 /dev/pts/" in p.output
    finally:
        cli.run("rm", "-f", name)


@pytest.mark.parametrize("how", ["default", "flag", "config"])
def test_detach_keys_run_attach_exec(cli, how):
    name = f"dyc-pty-{os.getpid()}-{how}"
    flag: list[str] = []
    keys = b"\x10\x11"
    if how == "flag":
        flag, keys = ["--detach-keys", "ctrl-a,x"], b"\x01x"
    elif how == "config":
        cli.config.write_text(json.dumps({"detachKeys": "ctrl-e,e"}))
        keys = b"\x05e"
    try:
        p = cli.pty("run", "-it", *flag, "--name", name, "busybox", "sh")
        p.read_until(BANNER)
        p.send(b"echo r-$((6*7))\r")
        p.read_until(b"r-42")
        p.send(keys)
        assert p.wait() == 0
        assert b"read escape sequence" not in p.output  # run detaches quietly
        assert _running(cli, name)

        p = cli.pty("attach", *flag, name)
        p.send(b"echo a-$((7*7))\r")
        p.read_until(b"a-49")
        p.send(keys)
        assert p.wait() == 1
        assert p.output.rstrip().endswith(b"read escape sequence")
        assert _running(cli, name)

        p = cli.pty("exec", "-it", *flag, name, "sh")
        p.read_until(BANNER)
        p.send(b"echo e-$((8*8))\r")
        p.read_until(b"e-64")
        p.send(keys)
        assert p.wait() == 1
        assert p.output.rstrip().endswith(b"read escape sequence")
        assert _running(cli, name)
    finally:
        cli.run("rm", "-f", name)


def test_sig_proxy_forwards_signals_to_the_container(cli, tmp_path):
    """``run`` attached without a TTY proxies the signals it gets to the container."""
    name = f"dysig{os.getpid()}{tmp_path.name[-6:]}".replace("_", "")
    script = 'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.1; done'
    proc = subprocess.Popen(
        [cli.exe, "-H", cli.url, "run", "--name", name, "busybox", "sh", "-c",
         script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env=cli.environ)
    try:
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(15)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, out) == (3, b"got-term\n"), err
    assert cli.run("rm", "-f", name).returncode == 0
