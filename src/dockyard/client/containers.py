"""Container endpoints (``/containers/...``)."""

from __future__ import annotations

from .system import filters_json
from .transport import Hijacked, Transport, demux_chunks, quote_name

TYPE_CHECKING = False  # typing and collections.abc cost CLI start-up
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any


def _c(container: str) -> str:
    return "/containers/" + quote_name(container)


class ContainersAPI:
    transport: Transport

    def create_container(self, config: dict[str, Any], name: str | None = None,
                         platform: str | None = None) -> dict[str, Any]:
        return self.transport.post("/containers/create", {"name": name, "platform": platform},
                                   body=config)

    def start(self, container: str) -> None:
        self.transport.post(_c(container) + "/start")

    def stop(self, container: str, timeout: int | None = None,
             signal: str | None = None) -> None:
        self.transport.post(_c(container) + "/stop", {"t": timeout, "signal": signal})

    def restart(self, container: str, timeout: int | None = None,
                signal: str | None = None) -> None:
        self.transport.post(_c(container) + "/restart", {"t": timeout, "signal": signal})

    def kill(self, container: str, signal: str | None = None) -> None:
        self.transport.post(_c(container) + "/kill", {"signal": signal or None})

    def pause(self, container: str) -> None:
        self.transport.post(_c(container) + "/pause")

    def unpause(self, container: str) -> None:
        self.transport.post(_c(container) + "/unpause")

    def wait(self, container: str, condition: str | None = None) -> dict[str, Any]:
        return self.transport.post(_c(container) + "/wait", {"condition": condition})

    def wait_response(self, container: str, condition: str | None = None) -> Any:
        """Send the wait now, read its answer later (``.json()``): the daemon flushes the
        headers first, so a wait sent before start cannot miss the exit."""
        return self.transport.open("POST", _c(container) + "/wait", {"condition": condition})

    def remove_container(self, container: str, v: bool = False, force: bool = False,
                         link: bool = False) -> None:
        self.transport.delete(_c(container), {
            "v": v or None, "force": force or None, "link": link or None})

    def inspect_container(self, container: str, size: bool = False) -> dict[str, Any]:
        return self.transport.get(_c(container) + "/json", {"size": size or None})

    def containers(self, all: bool = False, limit: int | None = None, size: bool = False,
                   filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        return self.transport.get("/containers/json", {
            "all": all or None, "limit": limit if limit and limit > 0 else None,
            "size": size or None, "filters": filters_json(filters)})

    def logs(self, container: str, *, stdout: bool = True, stderr: bool = True,
             follow: bool = False, timestamps: bool = False, tail: str = "all",
             since: str | None = None, until: str | None = None, details: bool = False,
             tty: bool = False) -> Iterator[tuple[int, bytes]]:
        """``(stream, bytes)`` pairs; with a TTY the body is raw and all of it is stdout."""
        chunks = self.transport.stream_raw("GET", _c(container) + "/logs", {
            "stdout": stdout, "stderr": stderr, "follow": follow or None,
            "timestamps": timestamps or None, "tail": tail, "since": since or None,
            "until": until or None, "details": details or None})
        if tty:
            return ((1, chunk) for chunk in chunks)
        return demux_chunks(chunks)

    def attach(self, container: str, *, stdin: bool = False, stdout: bool = True,
               stderr: bool = True, logs: bool = False, detach_keys: str | None = None,
               tty: bool = False) -> Hijacked:
        return self.transport.hijack(_c(container) + "/attach", {
            "stream": True, "stdin": stdin, "stdout": stdout, "stderr": stderr,
            "logs": logs or None, "detachKeys": detach_keys}, tty=tty)

    def resize(self, container: str, height: int, width: int) -> None:
        self.transport.post(_c(container) + "/resize", {"h": height, "w": width})

    def top(self, container: str, ps_args: str | None = None) -> dict[str, Any]:
        return self.transport.get(_c(container) + "/top", {"ps_args": ps_args or None})

    def stats(self, container: str, stream: bool = True,
              one_shot: bool | None = None) -> Iterator[dict[str, Any]]:
        if one_shot is None:
            one_shot = not stream
        return self.transport.stream_json("GET", _c(container) + "/stats",
                                          {"stream": stream, "one-shot": one_shot or None})

    def update_container(self, container: str, config: dict[str, Any]) -> dict[str, Any]:
        return self.transport.post(_c(container) + "/update", body=config)

    def rename(self, container: str, name: str) -> None:
        self.transport.post(_c(container) + "/rename", {"name": name})

    def changes(self, container: str) -> list[dict[str, Any]] | None:
        return self.transport.get(_c(container) + "/changes")

    def export(self, container: str) -> Iterator[bytes]:
        return self.transport.stream_raw("GET", _c(container) + "/export")

    def get_archive(self, container: str, path: str) -> tuple[Iterator[bytes], str]:
        """The tar stream and the base64 ``X-Docker-Container-Path-Stat`` header."""
        resp = self.transport.open("GET", _c(container) + "/archive", {"path": path})
        return resp.iter_chunks(), resp.headers.get("X-Docker-Container-Path-Stat", "")

    def stat_archive(self, container: str, path: str) -> str:
        resp = self.transport.open("HEAD", _c(container) + "/archive", {"path": path})
        resp.read()
        return resp.headers.get("X-Docker-Container-Path-Stat", "")

    def put_archive(self, container: str, path: str, data: Iterable[bytes] | bytes,
                    no_overwrite_dir_non_dir: bool = False, copy_uid_gid: bool = False) -> None:
        self.transport.request("PUT", _c(container) + "/archive", {
            "path": path, "noOverwriteDirNonDir": no_overwrite_dir_non_dir or None,
            "copyUIDGID": copy_uid_gid or None,
        }, body=data, headers={"Content-Type": "application/x-tar"})

    def prune_containers(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return self.transport.post("/containers/prune", {"filters": filters_json(filters)})
