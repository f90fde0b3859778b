"""The real docker CLI (on PATH) against dockyardd: version, info, pull, images, tag, push,
save, rmi, load, with a loopback registry seeded with busybox. Skipped without docker."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_api_support import running_daemon, seed_registry

pytestmark = [pytest.mark.compat, pytest.mark.root]

DOCKER = shutil.which("docker")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    if DOCKER is None:
        pytest.skip("the docker CLI is not on PATH")
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from registry_server import run_registry

    base = tmp_path_factory.mktemp("reg")
    with run_registry(base) as reg:
        seed_registry(reg.host, base, [f"{reg.host}/library/busybox:latest"])
        yield reg


@pytest.fixture(scope="module")
def cli(registry, docker_runner):
    with running_daemon() as d:
        yield docker_runner(d.url, d.log_text, timeout=120)


def test_version_info(cli):
    out = cli("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}").stdout
    assert out.strip() == "1.44 linux"
    info = cli("info", "--format", "{{.OSType}} {{.CgroupDriver}} {{.ServerVersion}}").stdout
    assert info.startswith("linux cgroupfs ")
    assert cli("info").returncode == 0


def test_image_commands(cli, registry, tmp_path):
    repo = f"{registry.host}/library/busybox"
    r = cli("pull", repo)
    assert f"Status: Downloaded newer image for {repo}:latest" in r.stdout
    assert "Digest: sha256:" in r.stdout
    images = cli("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
    assert f"{repo}:latest" in images
    image_id = cli("image", "inspect", "--format", "{{.Id}}", repo).stdout.strip()
    assert image_id.startswith("sha256:")
    assert "Images" in cli("system", "df").stdout
    cli("tag", repo, f"{registry.host}/cli/bb:v1")
    r = cli("push", f"{registry.host}/cli/bb:v1")
    assert "v1: digest: sha256:" in r.stdout
    r = cli("history", repo)
    assert image_id[7:19] in r.stdout
    tarball = tmp_path / "bb.tar"
    cli("save", "-o", str(tarball), f"{registry.host}/cli/bb:v1")
    assert tarball.stat().st_size > 0
    r = cli("rmi", f"{registry.host}/cli/bb:v1")
    assert f"Untagged: {registry.host}/cli/bb:v1" in r.stdout
    r = cli("rmi", "-f", repo)
    assert f"Deleted: {image_id}" in r.stdout
    r = cli("load", "-i", str(tarball))
    assert f"Loaded image: {registry.host}/cli/bb:v1" in r.stdout
    r = cli("image", "inspect", "nope:nope", check=False)
    assert r.returncode != 0 and "No such image: nope:nope" in r.stderr
    r = cli("pull", f"{registry.host}/library/nothing", check=False)
    assert r.returncode != 0 and "Error response from daemon" in r.stderr
    cli("rmi", f"{registry.host}/cli/bb:v1")


def test_login_to_htpasswd_registry(cli, tmp_path_factory):
    from registry_server import run_registry

    base = tmp_path_factory.mktemp("basic")
    with run_registry(base, htpasswd={"bob": "pw12345"}, name="basic") as reg:
        r = cli("login", "-u", "bob", "-p", "pw12345", reg.host)
        assert "Login Succeeded" in r.stdout
        r = cli("login", "-u", "bob", "-p", "wrong", reg.host, check=False)
        assert r.returncode != 0 and "Error response from daemon" in r.stderr
