"""Fixtures shared by the compat tests that drive dockyardd with a real client.

All are module-scoped: each test module gets its own daemon.

``daemon``         test_api_containers_support.container_daemon() (busybox seeded, own bridge,
                   nft table and cgroup parent, leak check at the end); skipped when
                   ``usable()`` says why it cannot run.
``docker_runner``  a factory ``docker_runner(url, log_text, *, timeout=60, text=True)`` -> ``run``:
                   ``run(*args, check=True, timeout=.., input=None)`` runs the docker CLI on PATH
                   with ``-H url`` and a private DOCKER_CONFIG; with ``check`` a non-zero exit
                   raises AssertionError carrying the output and ``log_text()``.
``cli``            ``run`` against ``daemon`` (``cli.daemon``, ``cli.url``); skipped without docker.
``cli_bytes``      the same with bytes output (no text decoding).
``client``         a docker-py DockerClient against ``daemon``; modules that use it import docker
                   with ``pytest.importorskip`` first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_api_containers_support import container_daemon, usable

DOCKER = shutil.which("docker")


@pytest.fixture(scope="module")
def daemon() -> Iterator[Any]:
    if (why := usable()) is not None:
        pytest.skip(why)
    with container_daemon() as d:
        yield d


@pytest.fixture(scope="module")
def docker_runner(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Callable]:
    def make(url: str, log_text: Callable[[], str], *, timeout: float = 60,
             text: bool = True) -> Callable[..., subprocess.CompletedProcess]:
        config = tmp_path_factory.mktemp("dockercfg")
        default_timeout = timeout

        def run(*args: str, check: bool = True, timeout: float = default_timeout,
                input: str | None = None) -> subprocess.CompletedProcess:
            env = {**os.environ, "DOCKER_CONFIG": str(config), "DOCKER_CLI_HINTS": "false"}
            env.pop("DOCKER_HOST", None)
            env.pop("DOCKER_API_VERSION", None)
            r = subprocess.run([DOCKER, "-H", url, *args], capture_output=True, text=text,
                               timeout=timeout, env=env, input=input,
                               stdin=None if input is not None else subprocess.DEVNULL)
            if check and r.returncode != 0:
                output = (f"stdout: {r.stdout}\nstderr: {r.stderr}\n" if text else
                          f"stdout: {r.stdout[:2000]!r}\nstderr: {r.stderr!r}\n")
                raise AssertionError(f"docker {' '.join(args)} exited {r.returncode}\n"
                                     f"{output}daemon log: {log_text()}")
            return r

        return run

    return make


def _cli(request: pytest.FixtureRequest, docker_runner: Callable, text: bool) -> Callable:
    if DOCKER is None:
        pytest.skip("the docker CLI is not on PATH")
    d = request.getfixturevalue("daemon")
    run = docker_runner(d.url, d.d.log_text, text=text)
    run.daemon = d
    run.url = d.url
    return run


@pytest.fixture(scope="module")
def cli(request: pytest.FixtureRequest, docker_runner: Callable) -> Callable:
    return _cli(request, docker_runner, text=True)


@pytest.fixture(scope="module")
def cli_bytes(request: pytest.FixtureRequest, docker_runner: Callable) -> Callable:
    return _cli(request, docker_runner, text=False)


@pytest.fixture(scope="module")
def client(daemon: Any) -> Iterator[Any]:
    import docker

    c = docker.DockerClient(base_url=daemon.url, version="auto", timeout=60)
    try:
        yield c
    finally:
        c.close()
