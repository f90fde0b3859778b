"""The registry client: one method per Distribution API operation.

Reads (manifests, blobs, tags) go to the registry's mirrors first and fall back to the
origin on any failure; writes go to the origin only. An insecure registry's HTTPS endpoint
that fails to connect is skipped afterwards in favour of its plain HTTP one. Errors carry
the repository and reference they were about (see ``errors``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aiohttp

from .auth import Authenticator
from .authconfig import AuthConfig, CredentialSource, resolve
from .blobs import BlobStream
from .digest import algorithm_of, check_digest, compute_digest, is_digest
from .endpoints import Endpoint, InsecureRegistries, endpoints_for, normalize_host
from .errors import DigestMismatchError, DistributionError, RegistryConnectionError, RegistryError
from .responses import error_from, media_type, read_limited
from .retry import DEFAULT_RETRY, RetryPolicy, as_policy
from .scope import Scope, repository
from .transport import Transport
from .upload import UploadSession, check_announced, collect
from .urls import check_reference, check_repository, next_link

T = TypeVar("T")

MAX_MANIFEST_SIZE = 4 << 20
SINGLE_POST_MAX = 64 << 10
MAX_TAG_PAGES = 10_000
USER_AGENT = "dockyard/0.1"


@dataclass(frozen=True)
class Manifest:
    """A manifest's exact bytes, its media type and digest."""

    data: bytes
    media_type: str
    digest: str


@dataclass(frozen=True)
class ManifestInfo:
    """What a HEAD tells about a manifest; ``digest``/``size`` None when not sent."""

    media_type: str
    digest: str | None
    size: int | None


class RegistryClient:
    """Async client for one registry host (``docker.io``, ``localhost:5000``, ...)."""

    def __init__(
        self,
        host: str,
        *,
        credentials: CredentialSource = None,
        insecure_registries: Iterable[str] = (),
        mirrors: Iterable[str] = (),
        session: aiohttp.ClientSession | None = None,
        retries: int | RetryPolicy = DEFAULT_RETRY,
        single_post_max: int = SINGLE_POST_MAX,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.host = normalize_host(host)
        insecure = InsecureRegistries.parse(insecure_registries)
        self._pull = endpoints_for(self.host, insecure=insecure, mirrors=mirrors)
        self._push = endpoints_for(self.host, insecure=insecure, push=True)
        self._source = credentials
        self._creds: dict[str, AuthConfig | None] = {}
        self._dead: set[Endpoint] = set()
        self.single_post_max = single_post_max
        self.policy = as_policy(retries)
        self.auth = Authenticator(self._credentials, user_agent=user_agent)
        self.transport = Transport(self.auth, self.policy, session=session, user_agent=user_agent)

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.transport.aclose()

    @property
    def endpoints(self) -> list[Endpoint]:
        """Endpoints for reads, in the order they are tried."""
        return list(self._pull)

    # -- API ---------------------------------------------------------------------------

    async def ping(self) -> None:
        """``GET /v2/`` on the registry itself, authenticating if it asks to."""

        async def op(ep: Endpoint) -> None:
            async with self.transport.request("GET", ep.api(""), ep, ()) as resp:
                if resp.status != 200:
                    raise await error_from(resp)

        await self._each(self._push, op)

    async def get_manifest(self, repo: str, reference: str, accept: Sequence[str]) -> Manifest:
        """The manifest's bytes; a digest reference and ``Docker-Content-Digest`` verified."""
        path = self._manifest_path(repo, reference)

        async def op(ep: Endpoint) -> Manifest:
            headers = {"Accept": ", ".join(accept)} if accept else {}
            async with self.transport.request("GET", ep.api(path), ep, _pull(repo),
                                              headers=headers) as resp:
                if resp.status != 200:
                    raise await error_from(resp, repository=repo, reference=reference,
                                           code_hint="MANIFEST_UNKNOWN")
                data = await read_limited(resp, MAX_MANIFEST_SIZE, f"manifest {repo}:{reference}")
                digest = _manifest_digest(data, repo, reference,
                                          resp.headers.get("Docker-Content-Digest"))
                return Manifest(data, media_type(resp) or _embedded_type(data), digest)

        return await self._each(self._pull, op)

    async def head_manifest(self, repo: str, reference: str, accept: Sequence[str]) -> ManifestInfo:
        path = self._manifest_path(repo, reference)

        async def op(ep: Endpoint) -> ManifestInfo:
            headers = {"Accept": ", ".join(accept)} if accept else {}
            async with self.transport.request("HEAD", ep.api(path), ep, _pull(repo),
                                              headers=headers) as resp:
                if resp.status != 200:
                    raise await error_from(resp, repository=repo, reference=reference,
                                           code_hint="MANIFEST_UNKNOWN")
                digest = resp.headers.get("Docker-Content-Digest")
                if is_digest(reference) and digest and digest != reference:
                    raise DigestMismatchError(f"manifest {repo}@{reference}", reference, digest)
                return ManifestInfo(media_type(resp), digest if digest and is_digest(digest)
                                    else None, resp.content_length)

        return await self._each(self._pull, op)

    async def blob_exists(self, repo: str, digest: str) -> int | None:
        """The blob's size if the repository has it, else None."""
        path = self._blob_path(repo, digest)

        async def op(ep: Endpoint) -> int | None:
            async with self.transport.request("HEAD", ep.api(path), ep, _pull(repo)) as resp:
                if resp.status == 404:
                    return None
                if resp.status != 200:
                    raise await error_from(resp, repository=repo, reference=digest)
                return resp.content_length if resp.content_length is not None else 0

        return await self._each(self._push, op)

    def open_blob(self, repo: str, digest: str, offset: int = 0, *,
                  size: int | None = None) -> BlobStream:
        """The blob's bytes from ``offset`` (an async iterator; use ``async with`` too)."""
        path = self._blob_path(repo, digest)
        if offset < 0:
            raise ValueError("negative offset")
        chosen: list[Endpoint] = []

        async def open_at(ep: Endpoint, start: int) -> aiohttp.ClientResponse:
            headers = {"Accept-Encoding": "identity"}
            if start:
                headers["Range"] = f"bytes={start}-"
            resp = await self.transport.send("GET", ep.api(path), ep, _pull(repo),
                                             headers=headers, raw=True)
            if resp.status in (200, 206) or (resp.status == 416 and start):
                return resp
            try:
                raise await error_from(resp, repository=repo, reference=digest,
                                       code_hint="BLOB_UNKNOWN")
            finally:
                resp.release()

        async def opener(start: int) -> aiohttp.ClientResponse:
            if chosen:
                return await open_at(chosen[0], start)

            async def first(ep: Endpoint) -> aiohttp.ClientResponse:
                resp = await open_at(ep, start)
                chosen.append(ep)
                return resp

            return await self._each(self._pull, first)

        return BlobStream(opener, digest, offset, size=size, retries=self.policy.retries)

    async def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Cross-repository mount; False when the registry could not (nothing is left open)."""
        check_repository(repo)
        check_repository(from_repo)
        check_digest(digest)
        scopes = (repository(repo, "pull", "push"), repository(from_repo, "pull"))

        async def op(ep: Endpoint) -> bool:
            url = ep.api(f"{repo}/blobs/uploads/").with_query(mount=digest, **{"from": from_repo})
            async with self.transport.request("POST", url, ep, scopes,
                                              headers={"Content-Length": "0"}) as resp:
                if resp.status == 201:
                    return True
                if resp.status != 202:
                    raise await error_from(resp, repository=repo, reference=digest)
                session = UploadSession.from_response(self.transport, ep, repo, scopes, resp)
            await session.cancel()
            return False

        return await self._each(self._push, op)

    async def upload_blob(
        self, repo: str, digest: str, size: int, chunks: AsyncIterable[bytes], *,
        chunk_size: int | None = None,
    ) -> str:
        """Push a blob of ``size`` bytes; monolithic unless ``chunk_size`` is given.

        A small monolithic blob goes in the POST itself (``?digest=``); a registry that
        does not take it that way answers 202 and gets it in the PUT.
        """
        check_repository(repo)
        check_digest(digest)
        if size < 0 or (chunk_size is not None and chunk_size <= 0):
            raise ValueError("size and chunk_size must be positive")
        scopes = (repository(repo, "pull", "push"),)
        single = chunk_size is None and size <= self.single_post_max
        data = await collect(chunks, size) if single else None

        async def start(ep: Endpoint) -> UploadSession | None:
            url = ep.api(f"{repo}/blobs/uploads/")
            headers = {"Content-Length": str(size if single else 0)}
            if single:
                url = url.with_query(digest=digest)
                headers["Content-Type"] = "application/octet-stream"
            async with self.transport.request("POST", url, ep, scopes, headers=headers,
                                              data=data) as resp:
                if single and resp.status == 201:
                    check_announced(resp, digest)
                    return None
                if resp.status != 202:
                    raise await error_from(resp, repository=repo, reference=digest,
                                           code_hint="NAME_UNKNOWN")
                return UploadSession.from_response(self.transport, ep, repo, scopes, resp)

        session = await self._each(self._push, start)
        if session is None:
            return digest
        return await session.send(digest, size, data if data is not None else chunks,
                                  chunk_size=chunk_size)

    async def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str:
        """Store ``data`` under a tag or its digest; its digest, as the registry confirmed."""
        path = self._manifest_path(repo, reference)
        algorithm = algorithm_of(reference) if is_digest(reference) else "sha256"
        digest = compute_digest(data, algorithm)
        if is_digest(reference) and digest != reference:
            raise DigestMismatchError(f"manifest {repo}@{reference}", reference, digest)
        scopes = (repository(repo, "pull", "push"),)

        async def op(ep: Endpoint) -> str:
            headers = {"Content-Type": media_type}
            async with self.transport.request("PUT", ep.api(path), ep, scopes, headers=headers,
                                              data=data) as resp:
                if resp.status not in (200, 201, 202, 204):
                    raise await error_from(resp, repository=repo, reference=reference)
                announced = resp.headers.get("Docker-Content-Digest")
                if announced and is_digest(announced):
                    actual = compute_digest(data, algorithm_of(announced))
                    if actual != announced:
                        raise DigestMismatchError(f"manifest {repo}:{reference}", actual,
                                                  announced)
                return digest

        return await self._each(self._push, op)

    async def list_tags(self, repo: str, *, page_size: int | None = None) -> list[str]:
        """Every tag, following ``Link: <...>; rel="next"`` pages."""
        check_repository(repo)

        async def op(ep: Endpoint) -> list[str]:
            url = ep.api(f"{repo}/tags/list")
            if page_size is not None:
                url = url.with_query(n=str(page_size))
            tags: list[str] = []
            seen = set()
            for _ in range(MAX_TAG_PAGES):
                seen.add(str(url))
                async with self.transport.request("GET", url, ep, _pull(repo)) as resp:
                    if resp.status != 200:
                        raise await error_from(resp, repository=repo, code_hint="NAME_UNKNOWN")
                    doc = await resp.json(content_type=None)
                    page = doc.get("tags") if isinstance(doc, dict) else None
                    tags.extend(t for t in page or () if isinstance(t, str))
                    nxt = next_link(resp.headers.get("Link"), resp.url)
                if nxt is None or str(nxt) in seen:
                    return tags
                url = nxt
            raise DistributionError(f"tag list of {repo} has over {MAX_TAG_PAGES} pages")

        return await self._each(self._pull, op)

    async def delete_manifest(self, repo: str, reference: str) -> None:
        await self._delete(repo, self._manifest_path(repo, reference), reference,
                           "MANIFEST_UNKNOWN")

    async def delete_blob(self, repo: str, digest: str) -> None:
        await self._delete(repo, self._blob_path(repo, digest), digest, "BLOB_UNKNOWN")

    # -- plumbing ------------------------------------------------------------------------

    async def _delete(self, repo: str, path: str, reference: str, hint: str) -> None:
        scopes = (repository(repo, "delete"),)

        async def op(ep: Endpoint) -> None:
            async with self.transport.request("DELETE", ep.api(path), ep, scopes) as resp:
                if resp.status not in (200, 202, 204):
                    raise await error_from(resp, repository=repo, reference=reference,
                                           code_hint=hint)

        await self._each(self._push, op)

    async def _each(self, endpoints: Sequence[Endpoint],
                    op: Callable[[Endpoint], Awaitable[T]]) -> T:
        """``op`` on the first endpoint that works: a mirror's failure or a connection
        failure moves on to the next; the last endpoint's error is raised."""
        live = [ep for ep in endpoints if ep not in self._dead] or list(endpoints)
        for i, ep in enumerate(live):
            last = i == len(live) - 1
            try:
                return await op(ep)
            except RegistryConnectionError:
                if last:
                    raise
                self._dead.add(ep)
            except (RegistryError, DigestMismatchError):
                if last or not ep.mirror:
                    raise
        raise AssertionError("no endpoints")

    async def _credentials(self, host: str) -> AuthConfig | None:
        if host not in self._creds:
            own = any(ep.host == host and not ep.mirror for ep in self._pull + self._push)
            name = self.host if own else host
            self._creds[host] = await resolve(self._source, name, own=own)
        return self._creds[host]

    @staticmethod
    def _manifest_path(repo: str, reference: str) -> str:
        return f"{check_repository(repo)}/manifests/{check_reference(reference)}"

    @staticmethod
    def _blob_path(repo: str, digest: str) -> str:
        return f"{check_repository(repo)}/blobs/{check_digest(digest)}"


def _pull(repo: str) -> tuple[Scope, ...]:
    return (repository(repo, "pull"),)


def _manifest_digest(data: bytes, repo: str, reference: str, announced: str | None) -> str:
    if is_digest(reference):
        actual = compute_digest(data, algorithm_of(reference))
        if actual != reference:
            raise DigestMismatchError(f"manifest {repo}@{reference}", reference, actual)
    if announced and is_digest(announced):
        actual = compute_digest(data, algorithm_of(announced))
        if actual != announced:
            raise DigestMismatchError(f"manifest {repo}:{reference}", announced, actual)
    if is_digest(reference):
        return reference
    return announced if announced and is_digest(announced) else compute_digest(data)


def _embedded_type(data: bytes) -> str:
    """The ``mediaType`` inside the manifest, for registries that send no Content-Type."""
    try:
        doc = json.loads(data)
    except ValueError:
        return ""
    value = doc.get("mediaType") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else ""
