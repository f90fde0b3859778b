"""Authentication against a real docker-registry: htpasswd Basic auth and the token flow with a
test token server (RS256 JWTs the registry verifies), plus ``login``/``logout`` writing a
private config.json.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import subprocess

import pytest

from dockyard.distribution import (
    AuthConfig,
    AuthenticationError,
    RegistryClient,
    credential_lookup,
    get_credentials,
    login,
    logout,
)
from dockyard.distribution.retry import RetryPolicy
from registry_server import (
    ACCEPT,
    fake_credential_helper,
    make_image,
    push,
    read_all,
    require,
    run_registry,
    run_token_server,
    sha,
)

pytestmark = pytest.mark.compat

FAST = RetryPolicy(retries=2, base_delay=0.01)
USERS = {"alice": "s3cret pass:word"}
ALICE = AuthConfig("alice", USERS["alice"])


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory):
    with run_registry(tmp_path_factory.mktemp("basic"), htpasswd=USERS) as reg:
        yield reg


@pytest.fixture(scope="module")
def token_setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("token")
    with run_token_server(base / "ts", users=USERS) as ts, run_registry(base, token=ts) as reg:
        yield ts, reg


def client(reg, **kw) -> RegistryClient:
    kw.setdefault("retries", FAST)
    return RegistryClient(reg.host, **kw)


# --- htpasswd ------------------------------------------------------------------------------


def test_basic_auth_required(basic_registry):
    async def go():
        async with client(basic_registry) as c:
            with pytest.raises(AuthenticationError) as err:
                await c.ping()
            assert str(err.value) == "unauthorized: authentication required"
            assert err.value.status == 401
            with pytest.raises(AuthenticationError):
                await c.get_manifest("private/app", "v1", ACCEPT)
        async with client(basic_registry, credentials=AuthConfig("alice", "wrong")) as c:
            with pytest.raises(AuthenticationError):
                await c.ping()
        async with client(basic_registry, credentials=AuthConfig("mallory", "x")) as c:
            with pytest.raises(AuthenticationError):
                await c.ping()

    run(go())


def test_basic_auth_push_and_pull(basic_registry):
    image = make_image("basic auth\n")

    async def go():
        async with client(basic_registry, credentials=ALICE) as c:
            await c.ping()
            digest = await push(c, "private/app", image)
            m = await c.get_manifest("private/app", "v1", ACCEPT)
            assert m.digest == digest == image.digest
            assert await read_all(c.open_blob("private/app", sha(image.layer))) == image.layer
            assert await c.mount_blob("private/other", sha(image.layer), "private/app")
            assert await c.list_tags("private/app") == ["v1"]

    run(go())


def test_skopeo_with_basic_credentials(basic_registry, tmp_path):
    require("skopeo")
    image = make_image("basic for skopeo\n")

    async def go():
        async with client(basic_registry, credentials=ALICE) as c:
            return await push(c, "private/skopeo", image)

    digest = run(go())
    env = {**os.environ, "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path),
           "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json")}
    ref = f"docker://{basic_registry.host}/private/skopeo:v1"
    denied = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--no-creds", ref],
                            env=env, capture_output=True, text=True, timeout=60)
    assert denied.returncode != 0
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                          "--creds", f"alice:{USERS['alice']}", ref],
                         env=env, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout)["Digest"] == digest


def test_login_and_logout_with_htpasswd(basic_registry, tmp_path):
    config = tmp_path / "docker" / "config.json"

    async def go():
        with pytest.raises(AuthenticationError):
            await login(basic_registry.host, "alice", "wrong", config)
        assert not config.exists()
        auth = await login(basic_registry.host, "alice", USERS["alice"], config)
        assert (auth.username, auth.password) == ("alice", USERS["alice"])
        doc = json.loads(config.read_text())
        encoded = doc["auths"][basic_registry.host]["auth"]
        assert base64.b64decode(encoded).decode() == f"alice:{USERS['alice']}"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        async with client(basic_registry, credentials=credential_lookup(config)) as c:
            await c.ping()
        assert logout(basic_registry.host, config) is True
        async with client(basic_registry, credentials=credential_lookup(config)) as c:
            with pytest.raises(AuthenticationError):
                await c.ping()

    run(go())


# --- token server --------------------------------------------------------------------------


def test_token_anonymous_pull_allowed_push_needs_credentials(token_setup):
    ts, reg = token_setup
    image = make_image("token auth\n")
    repo = "tok/app"

    async def go():
        async with client(reg) as anon:
            with pytest.raises(AuthenticationError) as err:
                await push(anon, repo, image)
            assert "UNAUTHORIZED" in err.value.codes
        async with client(reg, credentials=ALICE) as c:
            digest = await push(c, repo, image)
        async with client(reg) as anon:
            m = await anon.get_manifest(repo, "v1", ACCEPT)
            assert m.digest == digest
            assert await read_all(anon.open_blob(repo, sha(image.config))) == image.config
            assert await anon.list_tags(repo) == ["v1"]
            with pytest.raises(AuthenticationError):
                await anon.delete_manifest(repo, digest)
        # Anonymous requests never carried credentials to the token server.
        assert all(r["user"] is None for r in ts.requests[-3:])

    run(go())


def test_token_wrong_password(token_setup):
    _, reg = token_setup

    async def go():
        async with client(reg, credentials=AuthConfig("alice", "nope")) as c:
            with pytest.raises(AuthenticationError) as err:
                await c.get_manifest("tok/app", "v1", ACCEPT)
            assert str(err.value) == "unauthorized: incorrect username or password"

    run(go())


def test_token_scopes_and_cache(token_setup):
    ts, reg = token_setup
    image = make_image("scopes\n")

    async def go():
        async with client(reg, credentials=ALICE) as c:
            before = len(ts.requests)
            await push(c, "tok/src", image)
            # One token for pull+push, reused for every blob and the manifest.
            pushes = ts.requests[before:]
            assert [r["scopes"] for r in pushes] == [["repository:tok/src:pull,push"]]
            assert pushes[0]["user"] == "alice" and pushes[0]["service"] == ts.service
            assert await c.mount_blob("tok/dst", sha(image.layer), "tok/src") is True
            mount = ts.requests[-1]["scopes"]
            assert sorted(mount) == ["repository:tok/dst:pull,push", "repository:tok/src:pull"]
            for _ in range(3):
                await c.get_manifest("tok/src", "v1", ACCEPT)
            assert ts.requests[-1]["scopes"] == ["repository:tok/src:pull"]
            count = len(ts.requests)
            await c.get_manifest("tok/src", image.digest, ACCEPT)
            assert len(ts.requests) == count  # cached
            await c.delete_manifest("tok/src", image.digest)
            assert ts.requests[-1]["scopes"] == ["repository:tok/src:delete"]

    run(go())


def test_login_stores_identity_token_and_uses_oauth(token_setup, tmp_path):
    ts, reg = token_setup
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {}, "detachKeys": "ctrl-q"}))

    async def go():
        with pytest.raises(AuthenticationError):
            await login(reg.host, "alice", "wrong", config)
        auth = await login(reg.host, "alice", USERS["alice"], config)
        assert auth.identity_token and not auth.password
        doc = json.loads(config.read_text())
        assert doc["detachKeys"] == "ctrl-q"
        entry = doc["auths"][reg.host]
        assert entry["identitytoken"] == auth.identity_token
        assert base64.b64decode(entry["auth"]).decode() == "alice:"
        assert get_credentials(reg.host, config).identity_token == auth.identity_token
        before = len(ts.requests)
        async with client(reg, credentials=credential_lookup(config)) as c:
            await push(c, "tok/idtoken", make_image("identity token\n"))
        used = ts.requests[before:]
        assert used and all(r["method"] == "POST" and r["user"] == "alice" for r in used)

    run(go())


def test_login_through_credential_helper(token_setup, tmp_path, monkeypatch):
    _, reg = token_setup
    store = fake_credential_helper(tmp_path / "bin", tmp_path / "helper.json")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_HELPER_STORE", str(store))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credsStore": "test"}))

    async def go():
        await login(reg.host, "alice", USERS["alice"], config)
        assert json.loads(config.read_text())["auths"] == {reg.host: {}}
        saved = json.loads(store.read_text())[reg.host]
        assert saved["Username"] == "<token>" and saved["Secret"]
        async with client(reg, credentials=credential_lookup(config)) as c:
            await push(c, "tok/helper", make_image("helper\n"))
        assert logout(reg.host, config) is True
        assert json.loads(store.read_text()) == {}

    run(go())
