"""Container file endpoints: archive (HEAD stat, GET, PUT), changes and export.

Thin handlers over :class:`dockyard.engine.archive.ContainerFiles`, which does every
path operation inside the container's root (see there for the CVE-2018-15664 story).
Tars are produced by a worker thread into a bounded queue (``ThreadSink``) and sent on
as chunks; PUT bodies are spooled to a temporary file first (the extractor may need
two passes for ``noOverwriteDirNonDir``).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from typing import IO, Any

from aiohttp import web

from .errors import BadParameter
from .util import bool_value, engine_errors, json_response, spool_body, stream_from_thread

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STAT_HEADER = "X-Docker-Container-Path-Stat"




async def _stream(request: web.Request, response: web.StreamResponse,
                  produce: Callable[[IO[bytes]], object]) -> web.StreamResponse:
    """Send what ``produce(writer)`` writes (in a worker thread) as the response body."""
    response.content_type = "application/x-tar"
    await stream_from_thread(request, response, produce)  # type: ignore[arg-type]
    await response.write_eof()
    return response


class ArchiveRoutes:
    def __init__(self, hooks: Any) -> None:
        from dockyard.engine.archive import ContainerFiles

        self.hooks = hooks
        self._files: ContainerFiles | None = None

    @property
    def files(self) -> Any:
        from dockyard.engine.archive import ContainerFiles

        if self._files is None or self._files.engine is not self.hooks.engine:
            self._files = ContainerFiles(self.hooks.engine)
        return self._files

    @staticmethod
    def _path(request: web.Request) -> str:
        path = request.query.get("path", "")
        if not path:
            raise BadParameter("path is required")  # Docker: "Path cannot be empty"
        return path

    async def get(self, request: web.Request) -> web.StreamResponse:
        from dockyard.engine.archive import header_value

        ref, path = request.match_info["id"], self._path(request)
        if request.method == "HEAD":
            info = await self.files.stat(ref, path)
            return web.Response(status=200, headers={STAT_HEADER: header_value(info)})
        async with self.files.archive(ref, path) as (info, produce):
            response = web.StreamResponse(status=200)
            response.headers[STAT_HEADER] = header_value(info)
            return await _stream(request, response, produce)

    async def put(self, request: web.Request) -> web.StreamResponse:
        ref, path = request.match_info["id"], self._path(request)
        no_overwrite = bool_value(request, "noOverwriteDirNonDir")
        copy_uid_gid = bool_value(request, "copyUIDGID")
        self.files.engine._get(ref)  # 404 before reading the body
        store = self.files.store
        with tempfile.TemporaryFile(dir=str(store.root)) as spool:
            await spool_body(request, spool)
            await asyncio.to_thread(spool.seek, 0)
            await self.files.put_archive(ref, path, spool,
                                         no_overwrite_dir_non_dir=no_overwrite,
                                         copy_uid_gid=copy_uid_gid)
        return web.Response(status=200)

    async def changes(self, request: web.Request) -> web.StreamResponse:
        found = await self.files.changes(request.match_info["id"])
        return json_response(found or None)

    async def export(self, request: web.Request) -> web.StreamResponse:
        async with self.files.export(request.match_info["id"]) as produce:
            return await _stream(request, web.StreamResponse(status=200), produce)


def archive_routes(hooks: Any) -> list[tuple[str, str, Handler]]:
    r = ArchiveRoutes(hooks)
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/containers/{id}/archive", r.get),  # HEAD too (the app adds it)
        ("PUT", "/containers/{id}/archive", r.put),
        ("GET", "/containers/{id}/changes", r.changes),
        ("GET", "/containers/{id}/export", r.export),
    ]
    return [(m, p, engine_errors(h)) for m, p, h in table]


__all__ = ["ArchiveRoutes", "archive_routes"]
