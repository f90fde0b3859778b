"""Uploads, blob reads, manifests and tags of RegistryClient, against scripted fake servers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from urllib.parse import quote, unquote

import pytest
from aiohttp import web

from dockyard.distribution import (
    DigestMismatchError,
    NotFound,
    RegistryClient,
    RegistryError,
    RetryPolicy,
    TruncatedBlobError,
)
from registry_server import FakeServer

pytestmark = pytest.mark.unit

FAST = RetryPolicy(retries=3, base_delay=0.001, max_delay=0.01)
OCI = "application/vnd.oci.image.manifest.v1+json"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def pieces(data: bytes, size: int = 1000):
    for i in range(0, len(data), size):
        yield data[i:i + size]


class UploadRegistry:
    """Blob uploads as distribution does them: every answer moves a signed ``_state``.

    ``single_post``: answer a POST carrying ``?digest=`` with 201 (as registries that support
    it do). ``min_chunk``: send ``OCI-Chunk-Min-Length``. Requests to a stale state fail.
    """

    def __init__(self, *, single_post: bool = False, min_chunk: int | None = None) -> None:
        self.single_post = single_post
        self.min_chunk = min_chunk
        self.state = 0
        self.data = bytearray()
        self.blobs: dict[str, bytes] = {}
        self.ranges: list[str] = []
        self.deleted = False
        self.url = ""

    def location(self, absolute: bool) -> str:
        self.state += 1
        # "%2B" must come back as sent ("+" would be a space to Go).
        path = f"/v2/r/blobs/uploads/u1?_state=s{self.state}%2B"
        return f"{self.url}{path}" if absolute else path

    async def __call__(self, request: web.Request, body: bytes) -> web.Response:
        if request.method == "POST":
            digest = request.query.get("digest")
            if digest and self.single_post:
                self.blobs[digest] = body
                return web.Response(status=201, headers={"Docker-Content-Digest": digest})
            headers = {"Location": self.location(absolute=False)}
            if self.min_chunk:
                headers["OCI-Chunk-Min-Length"] = str(self.min_chunk)
            return web.Response(status=202, headers=headers)
        m = re.search(r"_state=s(\d+)%2B", request.raw_path)
        if not m or int(m.group(1)) != self.state:
            return web.json_response({"errors": [{"code": "BLOB_UPLOAD_INVALID",
                                                  "message": "blob upload invalid"}]}, status=404)
        if request.method == "PATCH":
            start, end = map(int, request.headers["Content-Range"].split("-"))
            assert start == len(self.data) and end == start + len(body) - 1
            self.ranges.append(request.headers["Content-Range"])
            self.data += body
            return web.Response(status=202, headers={
                "Location": self.location(absolute=True), "Range": f"0-{len(self.data) - 1}"})
        if request.method == "PUT":
            self.data += body
            digest = request.query["digest"]
            if sha(bytes(self.data)) != digest:
                return web.json_response({"errors": [{"code": "DIGEST_INVALID",
                                                      "message": "digest invalid"}]}, status=400)
            self.blobs[digest] = bytes(self.data)
            self.state = -1
            return web.Response(status=201, headers={"Docker-Content-Digest": digest})
        if request.method == "DELETE":
            self.deleted = True
            return web.Response(status=204)
        return web.Response(status=405)


@contextlib.asynccontextmanager
async def upload_server(**kw):
    reg = UploadRegistry(**kw)
    async with FakeServer(reg) as fake:
        reg.url = fake.url
        yield reg, fake


def test_monolithic_upload_post_then_put():
    data = bytes(range(256)) * 1000

    async def go():
        async with upload_server() as (reg, fake):
            async with RegistryClient(fake.host, retries=FAST) as client:
                digest = await client.upload_blob("r", sha(data), len(data), pieces(data))
                assert digest == sha(data)
            assert reg.blobs == {sha(data): data}
            assert fake.methods() == ["POST", "PUT"]
            put = fake.seen[1]
            expected = f"/v2/r/blobs/uploads/u1?_state=s1%2B&digest={quote(sha(data))}"
            assert put.raw_path == expected
            assert put.headers["Content-Length"] == str(len(data))

    run(go())


@pytest.mark.parametrize("supported", [True, False])
def test_small_blob_single_post(supported):
    data = b'{"architecture":"amd64"}'

    async def go():
        async with upload_server(single_post=supported) as (reg, fake):
            async with RegistryClient(fake.host, retries=FAST) as client:
                await client.upload_blob("r", sha(data), len(data), pieces(data, 5))
            assert reg.blobs == {sha(data): data}
            post = fake.seen[0]
            assert post.body == data and f"digest={sha(data)}" in unquote(post.raw_path)
            assert fake.methods() == (["POST"] if supported else ["POST", "PUT"])

    run(go())


@pytest.mark.parametrize(("chunk_size", "min_chunk", "expected"), [
    (4000, None, ["0-3999", "4000-7999", "8000-9999"]),
    (1000, 3000, ["0-2999", "3000-5999", "6000-8999", "9000-9999"]),
    (20000, None, ["0-9999"]),
])
def test_chunked_upload(chunk_size, min_chunk, expected):
    data = bytes(range(250)) * 40  # 10000 bytes, fed in uneven pieces

    async def go():
        async with upload_server(min_chunk=min_chunk) as (reg, fake):
            async with RegistryClient(fake.host, retries=FAST) as client:
                await client.upload_blob("r", sha(data), len(data), pieces(data, 777),
                                         chunk_size=chunk_size)
            assert reg.ranges == expected
            assert reg.blobs == {sha(data): data}
            assert fake.methods()[-1] == "PUT" and fake.seen[-1].headers["Content-Length"] == "0"

    run(go())


@pytest.mark.parametrize("chunk_size", [None, 10000])
@pytest.mark.parametrize("actual", [90000, 110000])
def test_wrong_size_cancels_the_session(chunk_size, actual):
    data = b"x" * actual

    async def go():
        async with upload_server() as (reg, fake):
            async with RegistryClient(fake.host, retries=FAST) as client:
                with pytest.raises(ValueError, match="announced"):
                    await client.upload_blob("r", sha(data), 100000, pieces(data),
                                             chunk_size=chunk_size)
            assert reg.deleted and fake.methods()[-1] == "DELETE"
            assert not reg.blobs

    run(go())


def test_cancelling_an_upload_deletes_its_session():
    async def go():
        first_sent = asyncio.Event()
        async with upload_server() as (reg, fake):
            async def stalled():
                yield b"a" * 1000
                yield b"b" * 1000
                first_sent.set()
                await asyncio.sleep(3600)
                yield b"never"

            async with RegistryClient(fake.host, retries=FAST) as client:
                task = asyncio.create_task(
                    client.upload_blob("r", sha(b"x"), 5000, stalled(), chunk_size=1000))
                await first_sent.wait()
                while len(reg.ranges) < 2:
                    await asyncio.sleep(0.01)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert reg.deleted
            delete = fake.seen[-1]
            assert delete.method == "DELETE" and delete.raw_path.endswith(f"s{reg.state}%2B")

    run(go())


def test_digest_rejected_by_registry():
    data = b"y" * 100000

    async def go():
        async with upload_server() as (reg, fake), RegistryClient(fake.host,
                                                                  retries=FAST) as client:
            with pytest.raises(RegistryError, match="digest invalid") as err:
                await client.upload_blob("r", sha(b"other"), len(data), pieces(data))
            assert err.value.status == 400 and err.value.codes == ("DIGEST_INVALID",)
            assert not reg.blobs

    run(go())


BLOB = bytes(range(256)) * 400  # 102400 bytes
BLOB_DIGEST = sha(BLOB)


class BlobServer:
    """Serves BLOB honouring Range; ``cut`` truncates the first responses after N bytes."""

    def __init__(self, *, cuts: list[int] | None = None, ranges: bool = True) -> None:
        self.cuts = list(cuts or [])
        self.ranges = ranges

    async def __call__(self, request: web.Request, body: bytes) -> web.StreamResponse:
        if not request.path.endswith(BLOB_DIGEST):
            return web.json_response({"errors": [{"code": "BLOB_UNKNOWN",
                                                  "message": "blob unknown to registry"}]},
                                     status=404)
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", request.headers.get("Range", ""))
        if m and self.ranges:
            start = int(m.group(1))
            if start >= len(BLOB):
                return web.Response(status=416,
                                    headers={"Content-Range": f"bytes */{len(BLOB)}"})
        part = BLOB[start:]
        headers = {"Content-Length": str(len(part)), "Docker-Content-Digest": BLOB_DIGEST,
                   "Content-Type": "application/octet-stream"}
        status = 200
        if m and self.ranges:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"
        resp = web.StreamResponse(status=status, headers=headers)
        await resp.prepare(request)
        if self.cuts:
            cut = self.cuts.pop(0)
            await resp.write(part[:cut])
            request.transport.close()  # hang up mid-body
            return resp
        await resp.write(part)
        await resp.write_eof()
        return resp


async def read_all(stream) -> bytes:
    out = bytearray()
    async with stream:
        async for chunk in stream:
            out += chunk
    return bytes(out)


@pytest.mark.parametrize("offset", [0, 1, 5000, len(BLOB) - 1])
def test_open_blob_from_offset(offset):
    async def go():
        async with FakeServer(BlobServer()) as fake, RegistryClient(fake.host,
                                                                    retries=FAST) as client:
            stream = client.open_blob("r", BLOB_DIGEST, offset)
            assert await read_all(stream) == BLOB[offset:]
            assert stream.size == len(BLOB) and stream.position == len(BLOB)
            expected = f"bytes={offset}-" if offset else None
            assert fake.seen[0].headers.get("Range") == expected
            assert fake.seen[0].headers.get("Accept-Encoding") == "identity"

    run(go())


def test_open_blob_at_its_end_reads_nothing():
    async def go():
        async with FakeServer(BlobServer()) as fake, RegistryClient(fake.host,
                                                                    retries=FAST) as client:
            assert await read_all(client.open_blob("r", BLOB_DIGEST, len(BLOB))) == b""
            assert await read_all(client.open_blob("r", BLOB_DIGEST, len(BLOB),
                                                   size=len(BLOB))) == b""

    run(go())


def test_truncated_body_resumes_with_range():
    async def go():
        server = BlobServer(cuts=[30000, 20000])
        async with FakeServer(server) as fake, RegistryClient(fake.host, retries=FAST) as client:
            assert await read_all(client.open_blob("r", BLOB_DIGEST)) == BLOB
            assert [s.headers.get("Range") for s in fake.seen] == [
                None, "bytes=30000-", "bytes=50000-"]

    run(go())


def test_registry_ignoring_range_has_the_head_skipped():
    async def go():
        server = BlobServer(ranges=False, cuts=[40000])
        async with FakeServer(server) as fake, RegistryClient(fake.host, retries=FAST) as client:
            assert await read_all(client.open_blob("r", BLOB_DIGEST, 1234)) == BLOB[1234:]
            assert len(fake.seen) == 2

    run(go())


def test_truncated_for_good_raises_with_position():
    async def go():
        server = BlobServer(cuts=[1000] * 10)
        async with FakeServer(server) as fake, RegistryClient(
                fake.host, retries=RetryPolicy(retries=2, base_delay=0.001)) as client:
            stream = client.open_blob("r", BLOB_DIGEST)
            with pytest.raises(TruncatedBlobError) as err:
                await read_all(stream)
            assert err.value.received == 3000 and err.value.expected == len(BLOB)
            assert "truncated after 3000 of 102400 bytes" in str(err.value)
            # A later call resumes where that one stopped.
            server.cuts.clear()
            rest = await read_all(client.open_blob("r", BLOB_DIGEST, err.value.received))
            assert rest == BLOB[3000:]

    run(go())


def test_open_blob_missing():
    async def go():
        async with FakeServer(BlobServer()) as fake, RegistryClient(fake.host,
                                                                    retries=FAST) as client:
            with pytest.raises(NotFound) as err:
                await read_all(client.open_blob("r", sha(b"nope")))
            assert str(err.value) == "blob unknown: blob unknown to registry"
            assert err.value.reference == sha(b"nope")

    run(go())


def test_cancelling_a_download_releases_it():
    async def go():
        async def slow(request, body):
            resp = web.StreamResponse(headers={"Content-Length": str(len(BLOB))})
            await resp.prepare(request)
            await resp.write(BLOB[:1000])
            await asyncio.sleep(3600)
            return resp

        async with FakeServer(slow) as fake, RegistryClient(fake.host, retries=FAST) as client:
            got = asyncio.Event()

            async def consume():
                async for _ in client.open_blob("r", BLOB_DIGEST):
                    got.set()

            task = asyncio.create_task(consume())
            await got.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(go())


MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'


def manifest_server(*, body: bytes = MANIFEST, digest: str | None = None, ctype: str = OCI):
    async def handler(request, _body):
        headers = {"Docker-Content-Digest": digest or sha(body)}
        if request.method == "PUT":
            return web.Response(status=201, headers=headers)
        return web.Response(body=body, headers={**headers, "Content-Type": ctype})

    return handler


def test_manifest_by_digest_is_verified():
    async def go():
        async with FakeServer(manifest_server(body=MANIFEST + b" ")) as fake, RegistryClient(
                fake.host, retries=FAST) as client:
            with pytest.raises(DigestMismatchError):
                await client.get_manifest("r", sha(MANIFEST), [OCI])

    run(go())


def test_manifest_header_digest_is_checked():
    async def go():
        async with FakeServer(manifest_server(digest=sha(b"else"))) as fake, RegistryClient(
                fake.host, retries=FAST) as client:
            with pytest.raises(DigestMismatchError):
                await client.get_manifest("r", "latest", [OCI])

    run(go())


def test_manifest_media_type_without_content_type():
    async def go():
        async with FakeServer(manifest_server(ctype="")) as fake, RegistryClient(
                fake.host, retries=FAST) as client:
            m = await client.get_manifest("r", "latest", [OCI, "application/vnd.oci.image."
                                                              "index.v1+json"])
            assert m.media_type == OCI and m.digest == sha(MANIFEST)
            assert fake.seen[0].headers["Accept"] == (
                "application/vnd.oci.image.manifest.v1+json, "
                "application/vnd.oci.image.index.v1+json")

    run(go())


def test_put_manifest_checks_returned_digest():
    async def go():
        async with FakeServer(manifest_server(digest=sha(b"else"))) as fake, RegistryClient(
                fake.host, retries=FAST) as client:
            with pytest.raises(DigestMismatchError):
                await client.put_manifest("r", "v1", MANIFEST, OCI)
            assert fake.seen[0].headers["Content-Type"] == OCI
            with pytest.raises(DigestMismatchError):  # refused before sending
                await client.put_manifest("r", sha(b"else"), MANIFEST, OCI)
            assert len(fake.seen) == 1

    run(go())


def test_oversized_manifest_is_refused():
    big = b"{" + b" " * (4 << 20) + b"}"

    async def go():
        async with FakeServer(manifest_server(body=big)) as fake, RegistryClient(
                fake.host, retries=FAST) as client:
            with pytest.raises(Exception, match="limit"):
                await client.get_manifest("r", "latest", [OCI])

    run(go())


def test_head_manifest_and_blob_exists():
    async def go():
        async def handler(request, body):
            if request.path.endswith("/manifests/v1"):
                return web.Response(body=MANIFEST, content_type=OCI,
                                    headers={"Docker-Content-Digest": sha(MANIFEST)})
            if request.path.endswith(BLOB_DIGEST):
                return web.Response(body=BLOB)
            return web.Response(status=404)

        async with FakeServer(handler) as fake, RegistryClient(fake.host, retries=FAST) as client:
            info = await client.head_manifest("r", "v1", [OCI])
            assert (info.media_type, info.digest, info.size) == (OCI, sha(MANIFEST), len(MANIFEST))
            with pytest.raises(NotFound) as err:
                await client.head_manifest("r", "v2", [OCI])
            assert str(err.value) == "manifest unknown: manifest unknown"
            assert await client.blob_exists("r", BLOB_DIGEST) == len(BLOB)
            assert await client.blob_exists("r", sha(b"no")) is None
            assert all(s.method == "HEAD" for s in fake.seen)

    run(go())


def test_list_tags_follows_link_pages():
    pages = {
        "/v2/r/tags/list?n=2": (["a", "b"], '</v2/r/tags/list?n=2&last=b>; rel="next"'),
        "/v2/r/tags/list?n=2&last=b": (["c", "d"], '<{url}/v2/r/tags/list?n=2&last=d>; rel="next"'),
        "/v2/r/tags/list?n=2&last=d": (["e"], None),
    }

    async def go():
        async def handler(request, body):
            tags, link = pages[request.raw_path]
            headers = {"Link": link.format(url=fake.url)} if link else {}
            return web.json_response({"name": "r", "tags": tags}, headers=headers)

        async with FakeServer(handler) as fake, RegistryClient(fake.host, retries=FAST) as client:
            assert await client.list_tags("r", page_size=2) == ["a", "b", "c", "d", "e"]
            assert [s.raw_path for s in fake.seen] == list(pages)

    run(go())


def test_list_tags_null_and_missing_repo():
    async def go():
        async def handler(request, body):
            if request.path.startswith("/v2/empty/"):
                return web.json_response({"name": "empty", "tags": None})
            return web.json_response({"errors": [{"code": "NAME_UNKNOWN", "message":
                                                  "repository name not known to registry"}]},
                                     status=404)

        async with FakeServer(handler) as fake, RegistryClient(fake.host, retries=FAST) as client:
            assert await client.list_tags("empty") == []
            with pytest.raises(NotFound) as err:
                await client.list_tags("gone")
            assert err.value.codes == ("NAME_UNKNOWN",)

    run(go())


def test_small_blob_of_wrong_size_opens_no_session():
    async def go():
        async with upload_server() as (_reg, fake):
            async with RegistryClient(fake.host, retries=FAST) as client:
                with pytest.raises(ValueError, match="announced"):
                    await client.upload_blob("r", sha(b"abc"), 4, pieces(b"abc"))
            assert fake.seen == []

    run(go())


def test_invalid_names_are_refused_before_sending():
    async def go():
        async with RegistryClient("127.0.0.1:1", retries=FAST) as client:
            with pytest.raises(ValueError):
                await client.get_manifest("../etc", "latest", [OCI])
            with pytest.raises(ValueError):
                await client.get_manifest("r", "a/../../b", [OCI])
            with pytest.raises(ValueError):
                client.open_blob("r", "sha256:xyz")
            with pytest.raises(ValueError):
                await client.upload_blob("r", "md5:00", 0, pieces(b""))

    run(go())
