"""Retries, redirects, authentication and endpoint fallback, against scripted fake servers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import pytest
from aiohttp import web

from dockyard.distribution import (
    AuthConfig,
    AuthenticationError,
    NotFound,
    RegistryClient,
    RegistryConnectionError,
    RegistryError,
    RetryPolicy,
    TooManyRequests,
)
from dockyard.distribution.endpoints import Endpoint
from registry_server import FakeServer

pytestmark = pytest.mark.unit

FAST = RetryPolicy(retries=3, base_delay=0.001, max_delay=0.01)
OCI = "application/vnd.oci.image.manifest.v1+json"
MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def manifest_response() -> web.Response:
    return web.Response(body=MANIFEST, content_type=OCI,
                        headers={"Docker-Content-Digest": MANIFEST_DIGEST})


def sequence(*responses):
    """A handler answering with each factory in turn, then the last one forever."""
    calls = iter(responses)
    last = [responses[-1]]

    async def handler(request, body):
        factory = next(calls, last[0])
        return factory()

    return handler


def client_for(fake: FakeServer, **kw) -> RegistryClient:
    kw.setdefault("retries", FAST)
    return RegistryClient(fake.host, **kw)


def test_retries_503_then_200():
    async def go():
        handler = sequence(lambda: web.Response(status=503), lambda: web.Response(status=503),
                           manifest_response)
        async with FakeServer(handler) as fake, client_for(fake) as client:
            m = await client.get_manifest("a/b", "latest", [OCI])
            assert m.digest == MANIFEST_DIGEST and m.media_type == OCI and m.data == MANIFEST
            assert fake.methods() == ["GET"] * 3

    run(go())


def test_honours_retry_after_on_429():
    async def go():
        handler = sequence(lambda: web.Response(status=429, headers={"Retry-After": "7"}),
                           manifest_response)
        async with FakeServer(handler) as fake, client_for(fake) as client:
            slept: list[float] = []

            async def sleep(seconds: float) -> None:
                slept.append(seconds)

            client.transport.sleep = sleep
            await client.get_manifest("a", "v1", [OCI])
            assert slept == [7.0]
            assert len(fake.seen) == 2

    run(go())


def test_429_with_long_retry_after_is_given_up_at_once():
    async def go():
        body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS",
                                       "message": "You have reached your pull rate limit."}]})
        handler = sequence(lambda: web.Response(status=429, text=body,
                                                headers={"Retry-After": "3600"}))
        async with FakeServer(handler) as fake, client_for(fake) as client:
            with pytest.raises(TooManyRequests) as err:
                await client.get_manifest("a", "v1", [OCI])
            assert err.value.retry_after == 3600.0
            assert str(err.value) == "toomanyrequests: You have reached your pull rate limit."
            assert len(fake.seen) == 1

    run(go())


@pytest.mark.parametrize("status", [400, 403, 404, 405])
def test_no_retry_on_other_4xx(status):
    async def go():
        handler = sequence(lambda: web.Response(status=status))
        async with FakeServer(handler) as fake, client_for(fake) as client:
            with pytest.raises(RegistryError) as err:
                await client.get_manifest("a", "v1", [OCI])
            assert err.value.status == status
            assert len(fake.seen) == 1

    run(go())


def test_persistent_500_raises_after_retries():
    async def go():
        handler = sequence(lambda: web.Response(status=500, text="database on fire"))
        async with FakeServer(handler) as fake, client_for(fake) as client:
            with pytest.raises(RegistryError) as err:
                await client.get_manifest("a", "v1", [OCI])
            assert err.value.status == 500 and "database on fire" in str(err.value)
            assert len(fake.seen) == FAST.retries + 1

    run(go())


def test_connection_errors_are_retried():
    """The first two connections are dropped without an answer; the third gets one."""

    async def go():
        drops = [2]

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            if drops[0] > 0:
                drops[0] -= 1
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: "
                             b"application/json\r\nConnection: close\r\n\r\n{}")
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, RegistryClient(f"127.0.0.1:{port}", retries=FAST) as client:
            await client.ping()
            assert drops == [0]

    run(go())


def test_unreachable_registry():
    async def go():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        async with RegistryClient(f"127.0.0.1:{port}", retries=FAST) as client:
            with pytest.raises(RegistryConnectionError, match=f"127.0.0.1:{port}/v2/"):
                await client.ping()

    run(go())


def basic_protected(handler, user="alice", password="pw"):
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    async def wrapped(request, body):
        if request.headers.get("Authorization") != expected:
            return web.json_response(
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                status=401, headers={"WWW-Authenticate": 'Basic realm="fake"'})
        return await handler(request, body)

    return wrapped


BLOB = bytes(range(256)) * 64
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


def test_blob_redirect_to_other_host_drops_authorization():
    async def go():
        async def storage(request, body):
            return web.Response(body=BLOB, content_type="application/octet-stream")

        async with FakeServer(storage) as store:
            async def origin(request, body):
                if "/blobs/" in request.path:
                    return web.Response(status=307,
                                        headers={"Location": f"{store.url}/s3/blob?X-Sig=a%2Bb"})
                return web.json_response({})

            async with FakeServer(basic_protected(origin)) as fake, client_for(
                    fake, credentials=AuthConfig("alice", "pw")) as client:
                data = b"".join([c async for c in client.open_blob("a", BLOB_DIGEST)])
                assert data == BLOB
            assert [s.raw_path for s in store.seen] == ["/s3/blob?X-Sig=a%2Bb"]
            assert "Authorization" not in store.seen[0].headers
            assert fake.seen[-1].headers["Authorization"].startswith("Basic ")

    run(go())


def test_same_origin_redirect_keeps_authorization():
    async def go():
        async def origin(request, body):
            if request.path.endswith("/manifests/old"):
                return web.Response(status=301, headers={"Location": "/v2/a/manifests/new"})
            return manifest_response()

        async with FakeServer(basic_protected(origin)) as fake, client_for(
                fake, credentials=AuthConfig("alice", "pw")) as client:
            m = await client.get_manifest("a", "old", [OCI])
            assert m.digest == MANIFEST_DIGEST
            assert fake.seen[-1].raw_path == "/v2/a/manifests/new"
            assert fake.seen[-1].headers["Authorization"].startswith("Basic ")

    run(go())


def test_wrong_basic_credentials():
    async def go():
        async def ok(request, body):
            return web.json_response({})

        async with FakeServer(basic_protected(ok)) as fake:
            async with client_for(fake) as client:
                with pytest.raises(AuthenticationError) as err:
                    await client.ping()
                assert str(err.value) == "unauthorized: authentication required"
                assert len(fake.seen) == 1  # no credentials: no pointless retry
            fake.seen.clear()
            async with client_for(fake, credentials=AuthConfig("alice", "nope")) as client:
                with pytest.raises(AuthenticationError):
                    await client.ping()
                assert len(fake.seen) == 2

    run(go())


class TokenFlow:
    """A fake token server (GET and OAuth2 POST) and a registry demanding its tokens."""

    def __init__(self, *, post_status: int = 200, expires_in: object = 3600) -> None:
        self.post_status = post_status
        self.expires_in = expires_in
        self.issued = 0

    async def token(self, request, body):
        if request.method == "POST":
            if self.post_status != 200:
                return web.Response(status=self.post_status)
            self.issued += 1
            return web.json_response({"access_token": f"tok{self.issued}",
                                      "expires_in": self.expires_in})
        auth = request.headers.get("Authorization")
        good = [b"alice:pw", b"alice:refresh-xyz"]  # an identity token stands in for a password
        if auth and auth not in ["Basic " + base64.b64encode(g).decode() for g in good]:
            return web.json_response({"details": "incorrect username or password"}, status=401)
        self.issued += 1
        doc = {"token": f"tok{self.issued}"}
        if self.expires_in is not None:
            doc["expires_in"] = self.expires_in
        return web.json_response(doc)

    def registry(self, realm: str):  # the realm path is not checked by the fake
        async def handler(request, body):
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer tok"):
                scope = 'scope="repository:a:pull",' if request.path != "/v2/" else ""
                return web.json_response(
                    {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                    status=401,
                    headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="fake",'
                                                 f'{scope}error="invalid_token"'})
            if "/manifests/" in request.path:
                return manifest_response()
            return web.json_response({})

        return handler


def test_token_flow_with_basic_credentials_and_cache():
    async def go():
        flow = TokenFlow()
        async with FakeServer(flow.token) as ts, FakeServer(flow.registry(ts.url + "/t")) as reg:
            async with client_for(reg, credentials=AuthConfig("alice", "pw")) as client:
                for _ in range(3):
                    await client.get_manifest("a", "v1", [OCI])
            get = [s for s in ts.seen if s.method == "GET"]
            assert len(get) == 1  # cached for the later two
            assert get[0].raw_path == "/t?service=fake&scope=repository:a:pull"
            assert get[0].headers["Authorization"] == "Basic " + base64.b64encode(
                b"alice:pw").decode()
            assert [s.headers.get("Authorization") for s in reg.seen] == [
                None, "Bearer tok1", "Bearer tok1", "Bearer tok1"]

    run(go())


def test_anonymous_token_and_wrong_password():
    async def go():
        flow = TokenFlow(expires_in=None)
        async with FakeServer(flow.token) as ts, FakeServer(flow.registry(ts.url + "/t")) as reg:
            async with client_for(reg) as client:
                await client.get_manifest("a", "v1", [OCI])
            assert "Authorization" not in ts.seen[0].headers
            async with client_for(reg, credentials=AuthConfig("alice", "wrong")) as client:
                with pytest.raises(AuthenticationError) as err:
                    await client.get_manifest("a", "v1", [OCI])
                assert str(err.value) == "unauthorized: incorrect username or password"

    run(go())


@pytest.mark.parametrize("post_status", [200, 404])
def test_identity_token_uses_oauth_post(post_status):
    async def go():
        flow = TokenFlow(post_status=post_status)
        async with FakeServer(flow.token) as ts, FakeServer(flow.registry(ts.url + "/t")) as reg:
            creds = AuthConfig("alice", identity_token="refresh-xyz")
            async with client_for(reg, credentials=creds) as client:
                await client.get_manifest("a", "v1", [OCI])
            post = ts.seen[0]
            assert post.method == "POST"
            form = dict(x.split("=", 1) for x in post.body.decode().split("&"))
            assert form["grant_type"] == "refresh_token"
            assert form["refresh_token"] == "refresh-xyz"
            assert form["service"] == "fake"
            assert form["scope"] == "repository%3Aa%3Apull"
            assert ts.methods() == (["POST"] if post_status == 200 else ["POST", "GET"])

    run(go())


def test_expired_token_is_refetched():
    async def go():
        flow = TokenFlow(expires_in=60)
        async with FakeServer(flow.token) as ts, FakeServer(flow.registry(ts.url + "/t")) as reg:
            async with client_for(reg) as client:
                await client.get_manifest("a", "v1", [OCI])
                # Age every cached token past its expiry.
                cache = client.auth._tokens
                for key, tok in list(cache._tokens.items()):
                    cache._tokens[key] = type(tok)(tok.token, 0.0)
                await client.get_manifest("a", "v1", [OCI])
            assert len(ts.seen) == 2

    run(go())


def test_rejected_token_gives_up_after_two_tries():
    async def go():
        async with FakeServer(TokenFlow().token) as ts:
            async def always_401(request, body):
                return web.Response(status=401, headers={
                    "WWW-Authenticate": f'Bearer realm="{ts.url}/token",service="s"'})

            async with FakeServer(always_401) as reg, client_for(reg) as client:
                with pytest.raises(AuthenticationError):
                    await client.ping()
                assert len(reg.seen) == 3

    run(go())


def test_mirror_falls_back_to_origin():
    async def go():
        async def empty_mirror(request, body):
            return web.json_response(
                {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
                status=404)

        async def origin(request, body):
            return manifest_response()

        async with FakeServer(empty_mirror) as mirror, FakeServer(origin) as reg:
            client = client_for(reg)
            client._pull = [Endpoint(mirror.url, mirror=True), Endpoint(reg.url)]
            async with client:
                m = await client.get_manifest("library/busybox", "latest", [OCI])
                assert m.digest == MANIFEST_DIGEST
            assert len(mirror.seen) == 1 and len(reg.seen) == 1
        # A mirror that is down is skipped for the rest of the client's life.
        async with FakeServer(origin) as reg:
            client = client_for(reg)
            dead = Endpoint("http://127.0.0.1:1", mirror=True)
            client._pull = [dead, Endpoint(reg.url)]
            async with client:
                await client.get_manifest("a", "v1", [OCI])
                assert dead in client._dead
                await client.get_manifest("a", "v1", [OCI])

    run(go())


def test_origin_error_is_not_masked_by_mirror():
    async def go():
        async def missing(request, body):
            return web.json_response(
                {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
                status=404)

        async with FakeServer(missing) as mirror, FakeServer(missing) as reg:
            client = client_for(reg)
            client._pull = [Endpoint(mirror.url, mirror=True), Endpoint(reg.url)]
            async with client:
                with pytest.raises(NotFound) as err:
                    await client.get_manifest("a", "v1", [OCI])
                assert err.value.codes == ("MANIFEST_UNKNOWN",)
                assert (err.value.repository, err.value.reference) == ("a", "v1")

    run(go())


def test_insecure_registry_falls_back_from_https_to_http():
    async def go():
        async def ok(request, body):
            return web.json_response({})

        async with FakeServer(ok) as fake:
            client = client_for(fake)
            https = Endpoint(f"https://{fake.host}", verify_tls=False)
            client._push = [https, Endpoint(fake.url)]
            async with client:
                await client.ping()
                assert https in client._dead
                await client.ping()

    run(go())


def test_parallel_requests_share_one_token_fetch():
    async def go():
        flow = TokenFlow()

        async def slow_token(request, body):
            await asyncio.sleep(0.1)
            return await flow.token(request, body)

        async with FakeServer(slow_token) as ts, FakeServer(flow.registry(ts.url + "/t")) as reg:
            async with client_for(reg) as client:
                await client.ping()  # learn the challenge once, as a pull would
                results = await asyncio.gather(
                    *(client.get_manifest("a", "v1", [OCI]) for _ in range(5)))
            assert {m.digest for m in results} == {MANIFEST_DIGEST}
            scoped = [s for s in ts.seen if "scope=" in s.raw_path]
            assert len(scoped) == 1

    run(go())
