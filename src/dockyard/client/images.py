"""Image endpoints (``/images/...``)."""

from __future__ import annotations

from . import jsonio
from .system import filters_json
from .transport import Transport, quote_name

TYPE_CHECKING = False  # typing and collections.abc cost CLI start-up
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any


def registry_auth_header(auth: dict[str, str] | None) -> dict[str, str]:
    """``X-Registry-Auth``: base64url JSON of an AuthConfig (``e30=`` for none, as the CLI)."""
    import base64

    data = jsonio.dumps(auth or {}, separators=(",", ":")).encode()
    return {"X-Registry-Auth": base64.urlsafe_b64encode(data).decode()}


def split_repo_tag(ref: str) -> tuple[str, str]:
    """``busybox:1`` → ``("busybox", "1")``; ``x@sha256:..`` → ``("x", "sha256:..")``;
    no tag → ``(name, "")``."""
    if "@" in ref:
        name, _, digest = ref.partition("@")
        return name, digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, ""


def normalize_name(name: str) -> str:
    """docker's reference normalisation: ``busybox`` → ``docker.io/library/busybox``."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return name
    if not sep:
        return f"docker.io/library/{name}"
    if first == "docker.io" or first == "index.docker.io":
        return "docker.io/" + (rest if "/" in rest else f"library/{rest}")
    return f"docker.io/{name}"


def registry_of(ref: str) -> str:
    name = normalize_name(split_repo_tag(ref)[0])
    return name.partition("/")[0]


class ImagesAPI:
    transport: Transport

    def images(self, name: str | None = None, all: bool = False, digests: bool = False,
               filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        filters = dict(filters or {})
        if name:
            filters.setdefault("reference", []).append(name)
        return self.transport.get("/images/json", {
            "all": all or None, "digests": digests or None, "filters": filters_json(filters)})

    def pull(self, ref: str, platform: str | None = None, all_tags: bool = False,
             auth: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        name, tag = split_repo_tag(ref)
        if not tag and not all_tags:
            tag = "latest"
        return self.transport.stream_json("POST", "/images/create", {
            "fromImage": normalize_name(name), "tag": tag or None, "platform": platform or None,
        }, headers=registry_auth_header(auth))

    def import_image(self, source: str | Iterable[bytes] | bytes, repository: str = "",
                     changes: list[str] | None = None, message: str = "",
                     platform: str | None = None) -> Iterator[dict[str, Any]]:
        """``fromSrc`` is a URL, or ``-`` with the tarball as the body."""
        name, tag = split_repo_tag(repository) if repository else ("", "")
        is_url = isinstance(source, str)
        return self.transport.stream_json("POST", "/images/create", {
            "fromSrc": source if is_url else "-", "repo": name or None, "tag": tag or None,
            "changes": changes or None, "message": message or None, "platform": platform,
        }, body=None if is_url else source,
            headers=None if is_url else {"Content-Type": "application/x-tar"})

    def push(self, ref: str, auth: dict[str, str] | None = None,
             all_tags: bool = False) -> Iterator[dict[str, Any]]:
        name, tag = split_repo_tag(ref)
        if not tag and not all_tags:
            tag = "latest"
        return self.transport.stream_json(
            "POST", f"/images/{quote_name(normalize_name(name))}/push", {"tag": tag or None},
            headers=registry_auth_header(auth))

    def tag(self, source: str, target: str) -> None:
        name, tag = split_repo_tag(target)
        self.transport.post(f"/images/{quote_name(source)}/tag", {
            "repo": normalize_name(name), "tag": tag or "latest"})

    def remove_image(self, name: str, force: bool = False,
                     noprune: bool = False) -> list[dict[str, str]]:
        return self.transport.delete(f"/images/{quote_name(name)}", {
            "force": force or None, "noprune": noprune or None})

    def inspect_image(self, name: str) -> dict[str, Any]:
        return self.transport.get(f"/images/{quote_name(name)}/json")

    def history(self, name: str) -> list[dict[str, Any]]:
        return self.transport.get(f"/images/{quote_name(name)}/history")

    def save(self, names: list[str]) -> Iterator[bytes]:
        """A tarball of the images (``GET /images/get?names=...``), streamed."""
        return self.transport.stream_raw("GET", "/images/get", {"names": names})

    def load(self, data: Iterable[bytes] | bytes, quiet: bool = False) -> Iterator[Any]:
        return self.transport.stream_json(
            "POST", "/images/load", {"quiet": quiet or None}, body=data,
            headers={"Content-Type": "application/x-tar"})

    def prune_images(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return self.transport.post("/images/prune", {"filters": filters_json(filters)})

    def commit(self, container: str, repo: str = "", tag: str = "", comment: str = "",
               author: str = "", pause: bool = True, changes: list[str] | None = None,
               config: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.transport.post("/commit", {
            "container": container, "repo": repo or None, "tag": tag or None,
            "comment": comment or None, "author": author or None, "pause": pause,
            "changes": changes or None}, body=config or {})
