"""~/.docker/config.json: auths, identity tokens, credential helpers, storing and erasing."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
from pathlib import Path

import pytest

from dockyard.distribution.authconfig import AuthConfig
from dockyard.distribution.credentials import (
    DOCKER_HUB_KEY,
    ConfigError,
    config_path,
    credential_lookup,
    get_credentials,
    helper_for,
    logout,
    server_key,
    store_credentials,
)
from dockyard.distribution.credhelper import CredentialHelperError, helper_get
from registry_server import fake_credential_helper

pytestmark = pytest.mark.unit


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def helper(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``docker-credential-test`` on PATH keeping its secrets in a JSON file."""
    bindir = scratch / "bin"
    store = fake_credential_helper(bindir, scratch / "helper-store.json")
    broken = bindir / "docker-credential-broken"
    broken.write_text("#!/bin/sh\necho 'helper exploded' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_HELPER_STORE", str(store))
    return store


def test_config_path(monkeypatch, scratch):
    assert config_path("/x/c.json") == Path("/x/c.json")
    env = {"DOCKER_CONFIG": "/etc/dc", "HOME": "/h"}
    assert config_path(env=env) == Path("/etc/dc/config.json")
    assert config_path(env={"HOME": "/h"}) == Path("/h/.docker/config.json")
    monkeypatch.setenv("DOCKER_CONFIG", str(scratch))
    assert config_path() == scratch / "config.json"


@pytest.mark.parametrize(("registry", "key"), [
    ("docker.io", DOCKER_HUB_KEY), ("index.docker.io", DOCKER_HUB_KEY),
    ("registry-1.docker.io", DOCKER_HUB_KEY), ("https://index.docker.io/v1/", DOCKER_HUB_KEY),
    ("localhost:5000", "localhost:5000"), ("Quay.io", "quay.io"),
])
def test_server_key(registry, key):
    assert server_key(registry) == key


def test_auths_forms(scratch):
    path = write(scratch / "config.json", {
        "auths": {
            DOCKER_HUB_KEY: {"auth": b64("hubuser:hub:pass")},
            "https://reg.example:5000/v1/": {"auth": b64("a:b")},
            "plain.example": {"username": "pu", "password": "pp"},
            "token.example": {"auth": b64("tu:"), "identitytoken": "refresh-123"},
            "bearer.example": {"registrytoken": "ready"},
            "empty.example": {},
        },
        "credHelpers": {}, "psFormat": "keep me",
    })
    for name in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        assert get_credentials(name, path) == AuthConfig("hubuser", "hub:pass",
                                                         server_address=DOCKER_HUB_KEY)
    assert get_credentials("reg.example:5000", path).password == "b"
    assert get_credentials("reg.example", path) is None  # the port is part of the key
    assert get_credentials("plain.example", path) == AuthConfig(
        "pu", "pp", server_address="plain.example")
    tok = get_credentials("token.example", path)
    assert (tok.username, tok.password, tok.identity_token) == ("tu", "", "refresh-123")
    assert get_credentials("bearer.example", path).registry_token == "ready"
    assert get_credentials("empty.example", path) is None
    assert get_credentials("other.example", path) is None


def test_missing_and_empty_config(scratch):
    assert get_credentials("docker.io", scratch / "nope.json") is None
    (scratch / "empty.json").write_text("")
    assert get_credentials("docker.io", scratch / "empty.json") is None


@pytest.mark.parametrize("content", ["{", "[]", '{"auths": {"r": {"auth": "!!!"}}}',
                                     '{"auths": {"r": {"auth": "' + b64("nocolon") + '"}}}'])
def test_bad_config(scratch, content):
    path = scratch / "config.json"
    path.write_text(content)
    with pytest.raises(ConfigError):
        get_credentials("r", path)


def test_helper_precedence():
    config = {"credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud",
                                                       DOCKER_HUB_KEY: "hub"}}
    assert helper_for(config, "gcr.io") == "gcloud"
    assert helper_for(config, "docker.io") == "hub"
    assert helper_for(config, "quay.io") == "desktop"
    assert helper_for({}, "quay.io") is None


def test_creds_store_get(scratch, helper):
    write(helper, {DOCKER_HUB_KEY: {"ServerURL": DOCKER_HUB_KEY, "Username": "u",
                                    "Secret": "s"},
                   "tok.example": {"ServerURL": "tok.example", "Username": "<token>",
                                   "Secret": "idtok"}})
    path = write(scratch / "config.json", {
        "credsStore": "test",
        # A helper applies: the file's secrets are not used.
        "auths": {"nothere.example": {"auth": b64("file:secret")}},
    })
    assert get_credentials("docker.io", path) == AuthConfig("u", "s",
                                                            server_address=DOCKER_HUB_KEY)
    assert get_credentials("tok.example", path).identity_token == "idtok"
    assert get_credentials("nothere.example", path) is None
    log = Path(str(helper) + ".log").read_text().splitlines()
    assert log[0] == f"get {DOCKER_HUB_KEY}"


def test_cred_helpers_per_registry(scratch, helper):
    write(helper, {"gcr.io": {"ServerURL": "gcr.io", "Username": "g", "Secret": "gs"}})
    path = write(scratch / "config.json", {
        "credHelpers": {"gcr.io": "test"},
        "auths": {"quay.io": {"auth": b64("q:qs")}},
    })
    assert get_credentials("gcr.io", path).password == "gs"
    assert get_credentials("quay.io", path).password == "qs"


def test_missing_or_failing_helper(scratch, helper):
    path = write(scratch / "config.json", {"credsStore": "absent-helper"})
    with pytest.raises(CredentialHelperError, match="not found in \\$PATH"):
        get_credentials("docker.io", path)
    with pytest.raises(CredentialHelperError, match="helper exploded"):
        helper_get("broken", "x")


def test_store_in_file_atomic_0600(scratch):
    path = scratch / "sub" / "config.json"
    path.parent.mkdir()
    write(path, {"auths": {"https://reg.example/v1/": {"auth": b64("old:old")}},
                 "psFormat": "keep me"})
    path.chmod(0o644)
    store_credentials("reg.example", AuthConfig("alice", "pw"), path)
    doc = json.loads(path.read_text())
    assert doc["psFormat"] == "keep me"
    assert doc["auths"] == {"reg.example": {"auth": b64("alice:pw")}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.json"]  # no temp left
    store_credentials("docker.io", AuthConfig("bob", "", identity_token="idt"), path)
    doc = json.loads(path.read_text())
    assert doc["auths"][DOCKER_HUB_KEY] == {"auth": b64("bob:"), "identitytoken": "idt"}
    assert get_credentials("docker.io", path).identity_token == "idt"


def test_store_creates_config_dir(scratch):
    path = scratch / "new" / ".docker" / "config.json"
    store_credentials("localhost:5000", AuthConfig("a", "b"), path)
    assert get_credentials("localhost:5000", path) == AuthConfig(
        "a", "b", server_address="localhost:5000")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_store_through_symlink(scratch):
    real = write(scratch / "real.json", {})
    link = scratch / "config.json"
    link.symlink_to(real)
    store_credentials("r.example", AuthConfig("a", "b"), link)
    assert link.is_symlink()
    assert "r.example" in json.loads(real.read_text())["auths"]


def test_store_and_erase_with_helper(scratch, helper):
    path = write(scratch / "config.json", {"credsStore": "test"})
    store_credentials("docker.io", AuthConfig("u", "p"), path)
    assert json.loads(helper.read_text())[DOCKER_HUB_KEY] == {
        "ServerURL": DOCKER_HUB_KEY, "Username": "u", "Secret": "p"}
    assert json.loads(path.read_text())["auths"] == {DOCKER_HUB_KEY: {}}  # no secret in file
    store_credentials("tok.example", AuthConfig("u", identity_token="it"), path)
    assert json.loads(helper.read_text())["tok.example"]["Username"] == "<token>"
    assert get_credentials("docker.io", path).password == "p"
    assert logout("docker.io", path) is True
    assert DOCKER_HUB_KEY not in json.loads(helper.read_text())
    assert get_credentials("docker.io", path) is None
    assert "erase https://index.docker.io/v1/" in Path(str(helper) + ".log").read_text()


def test_logout_file(scratch):
    path = write(scratch / "config.json", {"auths": {
        "https://index.docker.io/v1/": {"auth": b64("a:b")},
        "index.docker.io": {"auth": b64("c:d")},
        "quay.io": {"auth": b64("q:q")}}})
    assert logout("docker.io", path) is True
    assert list(json.loads(path.read_text())["auths"]) == ["quay.io"]
    assert logout("docker.io", path) is False
    assert logout("nothing.example", scratch / "absent.json") is False


def test_credential_lookup_is_async(scratch):
    path = write(scratch / "config.json", {"auths": {"r.example": {"auth": b64("a:b")}}})
    lookup = credential_lookup(path)
    assert asyncio.run(lookup("r.example")).username == "a"
    assert asyncio.run(lookup("x.example")) is None
