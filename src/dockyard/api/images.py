"""Images resource: list, create (pull / import), inspect, history, push, tag, remove,
prune, get (save), load. Blocking store work runs in the daemon's thread pool."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import tempfile
from typing import Any

from aiohttp import web

from .app import at_least, ctx_of
from .errors import ApiError, BadParameter, Conflict, NotFound, Unauthorized
from .util import (
    JsonStream,
    bool_value,
    json_response,
    parse_filters,
    registry_auth,
    spool_body,
    stream_from_thread,
    threadsafe_callback,
)

LIST_FILTERS = frozenset({"dangling", "reference", "label", "before", "since", "until"})
PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})


def _store_errors(err: BaseException) -> ApiError | None:
    """The image layer's exceptions as Docker's statuses."""
    from ..image.reference import InvalidReference
    from ..image.store import ImageInUse, ImageNotFound

    if isinstance(err, ImageNotFound):
        return NotFound(str(err))
    if isinstance(err, ImageInUse):
        return Conflict(str(err))
    if isinstance(err, InvalidReference):
        return BadParameter(str(err))
    return None


async def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except Exception as err:
        mapped = _store_errors(err)
        if mapped is not None:
            raise mapped from None
        raise


def _parse_ref(text: str, **kw: Any) -> Any:
    from ..image.reference import InvalidReference, parse_reference

    try:
        return parse_reference(text, **kw)
    except InvalidReference as err:
        raise BadParameter(str(err)) from None


def _registry_client(request: web.Request, domain: str) -> Any:
    from ..distribution.authconfig import AuthConfig
    from ..distribution.client import RegistryClient

    config = ctx_of(request).config
    raw = registry_auth(request.headers.get("X-Registry-Auth"))
    creds = None
    if raw:
        creds = AuthConfig(username=raw.get("username", ""), password=raw.get("password", ""),
                           identity_token=raw.get("identitytoken", ""),
                           registry_token=raw.get("registrytoken", ""),
                           server_address=raw.get("serveraddress", domain))
        if raw.get("auth") and not creds.username:
            import base64

            with contextlib.suppress(ValueError):
                user, _, password = base64.b64decode(raw["auth"]).decode().partition(":")
                creds = AuthConfig(username=user, password=password, server_address=domain)
        if creds.empty:
            creds = None
    return RegistryClient(domain, credentials=creds,
                          insecure_registries=config.insecure_registries,
                          mirrors=config.mirrors)


def _distribution_status(err: BaseException) -> int:
    from ..distribution.errors import AuthenticationError, RegistryError
    from ..distribution.errors import NotFound as RegistryNotFound

    if isinstance(err, RegistryNotFound):
        return 404
    if isinstance(err, AuthenticationError):
        return 401
    if isinstance(err, RegistryError) and err.status == 404:
        return 404
    return 500


# --- list / inspect / history ------------------------------------------------------------


def _matches_reference(patterns: list[str], tags: list[str], digests: list[str]) -> bool:
    for pattern in patterns:
        for name in tags + digests:
            repo = name.rsplit("@", 1)[0]
            if ":" in repo.rsplit("/", 1)[-1]:
                repo = repo.rsplit(":", 1)[0]
            if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(repo, pattern):
                return True
    return False


def _label_ok(labels: dict[str, str], wanted: list[str]) -> bool:
    for want in wanted:
        key, eq, value = want.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def _list(request: web.Request) -> list[dict[str, Any]]:
    from ..image.store import ImageNotFound

    ctx = ctx_of(request)
    store = ctx.store
    filters = parse_filters(request, LIST_FILTERS)
    summaries = store.list(all_images=True)
    per_image = ctx.hooks.containers_per_image()

    def created_of(name: str) -> int:
        try:
            image = store.resolve(name)
        except ImageNotFound:
            raise NotFound(f"No such image: {name}") from None
        return next(s["Created"] for s in summaries if s["Id"] == image.id)

    before = [created_of(n) for n in filters.get("before", [])]
    since = [created_of(n) for n in filters.get("since", [])]
    dangling = filters.get("dangling", [])
    for value in dangling:
        if value.lower() not in ("true", "false", "1", "0"):
            raise BadParameter(f"Invalid filter 'dangling={value}'")
    out = []
    for summary in summaries:
        tags = summary["RepoTags"] or []
        if dangling:
            want = dangling[-1].lower() in ("true", "1")
            if want != (not tags):
                continue
        if "reference" in filters and not _matches_reference(
                filters["reference"], tags, summary["RepoDigests"] or []):
            continue
        if "label" in filters and not _label_ok(summary["Labels"] or {}, filters["label"]):
            continue
        if any(summary["Created"] >= b for b in before):
            continue
        if any(summary["Created"] <= s for s in since):
            continue
        summary = dict(summary)
        summary["Containers"] = per_image.get(summary["Id"], -1)
        if at_least(request, "1.44"):
            summary.pop("VirtualSize", None)
        if not at_least(request, "1.43") and not tags:
            summary["RepoTags"] = ["<none>:<none>"]
        out.append(summary)
    out.sort(key=lambda s: s["Created"], reverse=True)
    return out


async def list_images(request: web.Request) -> web.Response:
    return json_response(await _call(_list, request))


def _disk_usage(request: web.Request) -> dict[str, Any]:
    ctx = ctx_of(request)
    types = set(request.query.getall("type", [])) or {"container", "image", "volume",
                                                      "build-cache"}
    bad = types - {"container", "image", "volume", "build-cache"}
    if bad:
        raise BadParameter(f"unknown object type: {sorted(bad)[0]}")
    result: dict[str, Any] = {}
    extra = ctx.hooks.disk_usage()
    if "image" in types:
        images = _list(request)
        result["LayersSize"] = sum(i["Size"] for i in images)
        result["Images"] = [{**i, "Containers": max(i["Containers"], 0)} for i in images]
    if "container" in types:
        result["Containers"] = extra.get("Containers", [])
    if "volume" in types:
        result["Volumes"] = extra.get("Volumes", [])
    if "build-cache" in types:
        result["BuildCache"] = []
    return result


async def disk_usage(request: web.Request) -> web.Response:
    """``GET /system/df`` (here because images are most of it; the engine adds the rest)."""
    return json_response(await _call(_disk_usage, request))


async def inspect(request: web.Request) -> web.Response:
    store = ctx_of(request).store
    return json_response(await _call(store.inspect, request.match_info["name"]))


async def history(request: web.Request) -> web.Response:
    store = ctx_of(request).store
    return json_response(await _call(store.history, request.match_info["name"]))


# --- create: pull and import -------------------------------------------------------------


async def create(request: web.Request) -> web.StreamResponse:
    if request.query.get("fromSrc"):
        return await _import(request)
    from_image = request.query.get("fromImage", "")
    if not from_image:
        raise BadParameter("fromImage or fromSrc is required")
    tag = request.query.get("tag", "")
    text = from_image
    if tag:
        text = f"{from_image}@{tag}" if ":" in tag and tag.startswith("sha256") \
            else f"{from_image}:{tag}"
    ref = _parse_ref(text)
    if ref.tag is None and ref.digest is None:
        ref = ref.docker_ref()
    platform = request.query.get("platform") or None
    return await _pull(request, ref, platform)


async def _pull(request: web.Request, ref: Any, platform: str | None) -> web.StreamResponse:
    from ..image.pull import pull

    ctx = ctx_of(request)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    progress = threadsafe_callback(loop, queue)
    stream = JsonStream(request)
    buffered: list[dict[str, Any]] = []  # held until the manifest is found (errors -> HTTP)

    async def run() -> None:
        async with _registry_client(request, ref.domain) as client:
            await pull(ctx.store, str(ref), client, platform=platform,
                       progress=lambda e: progress(e.docker_json()))

    task = asyncio.ensure_future(run())
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                message = getter.result()
                if not stream.started and message.get("status", "").startswith("Pulling from"):
                    buffered.append(message)
                    continue
                for held in buffered:
                    await stream.send(held)
                buffered.clear()
                await stream.send(message)
                continue
            getter.cancel()
            while not queue.empty():
                message = queue.get_nowait()
                for held in buffered:
                    await stream.send(held)
                buffered.clear()
                await stream.send(message)
            break
        err = task.exception()
        if err is not None:
            message = _pull_error(ref, err)
            if not stream.started:
                mapped = _store_errors(err)
                raise mapped or ApiError(message, _distribution_status(err))
            await stream.error(message)
        else:
            ctx.events.publish("image", "pull", ref.familiar(),
                               {"name": ref.familiar()})
        return await stream.finish()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def _pull_error(ref: Any, err: BaseException) -> str:
    from ..distribution.errors import DistributionError, RegistryConnectionError
    from ..distribution.errors import NotFound as RegistryNotFound

    if isinstance(err, RegistryNotFound):
        return (f"manifest for {ref.familiar()} not found: manifest unknown: "
                f"{err}")
    if isinstance(err, RegistryConnectionError):
        return f"Get \"{ref.registry}\": {err}"
    if isinstance(err, DistributionError):
        return str(err)
    return str(err) or type(err).__name__


async def _import(request: web.Request) -> web.StreamResponse:
    from ..image.local import import_image

    ctx = ctx_of(request)
    if request.query["fromSrc"] != "-":
        raise BadParameter("importing from a URL is not supported: use fromSrc=-")
    repo = request.query.get("repo", "")
    tag = request.query.get("tag", "")
    tags = []
    if repo:
        ref = _parse_ref(f"{repo}:{tag}" if tag else repo)
        tags.append(str(ref.docker_ref()))
    changes = request.query.getall("changes", [])
    message = request.query.get("message", "")
    platform = request.query.get("platform", "")
    arch = platform.split("/")[1] if platform.count("/") >= 1 else None
    with tempfile.TemporaryFile(dir=ctx.store.root) as spool:
        await spool_body(request, spool)
        await asyncio.to_thread(spool.seek, 0)
        try:
            image = await _call(import_image, ctx.store, spool, tags=tags, changes=changes,
                                message=message, architecture=arch)
        except ValueError as err:
            raise BadParameter(str(err)) from None
    ctx.events.publish("image", "import", image.id, {"name": image.id})
    stream = JsonStream(request)
    await stream.send({"status": image.id})
    return await stream.finish()


# --- push / tag / remove / prune --------------------------------------------------------


async def push(request: web.Request) -> web.StreamResponse:
    from ..image.push import push as push_image
    from ..image.store import normalize

    ctx = ctx_of(request)
    store = ctx.store
    name = request.match_info["name"]
    tag = request.query.get("tag", "")
    repo = _parse_ref(name, default_tag=False)
    if repo.tag or repo.digest:
        refs = [repo]
    elif tag:
        refs = [_parse_ref(f"{repo.name}@{tag}" if tag.startswith("sha256:")
                           else f"{repo.name}:{tag}")]
    else:  # every tag of the repository, as `docker push --all-tags`
        names = await asyncio.to_thread(lambda: [r.name for r in store.meta.refs()
                                                 if r.kind == "tag"])
        refs = [_parse_ref(n) for n in names if n.startswith(repo.name + ":")]
        if not refs:
            raise NotFound(f"An image does not exist locally with the tag: "
                           f"{repo.familiar_name}")
    for ref in refs:
        try:
            await asyncio.to_thread(store.meta.get_ref, normalize(str(ref)))
        except Exception:
            raise NotFound("An image does not exist locally with the tag: "
                           f"{ref.familiar_name}") from None
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    progress = threadsafe_callback(loop, queue)
    stream = JsonStream(request)
    await stream.start()
    for ref in refs:
        async def run(ref: Any = ref) -> str:
            async with _registry_client(request, ref.domain) as client:
                return await push_image(store, str(ref), client,
                                        progress=lambda e: progress(e.docker_json()))

        task = asyncio.ensure_future(run())
        try:
            while not (task.done() and queue.empty()):
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({task, getter},
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    await stream.send(getter.result())
                else:
                    getter.cancel()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        err = task.exception()
        if err is not None:
            await stream.error(_pull_error(ref, err))
            return await stream.finish()
        digest = task.result()
        image = await _call(store.resolve, str(ref))
        manifest = await _call(store.manifest_of, image)
        await stream.send({"progressDetail": {}, "aux": {
            "Tag": ref.tag or "latest", "Digest": digest, "Size": len(manifest.raw)}})
        ctx.events.publish("image", "push", ref.familiar(), {"name": ref.familiar()})
    return await stream.finish()


async def tag(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    repo = request.query.get("repo", "")
    tag_ = request.query.get("tag", "")
    if not repo:
        raise BadParameter("repository name must have at least one component")
    target = _parse_ref(repo, default_tag=False)
    if target.digest:
        raise BadParameter("refusing to create a tag with a digest reference")
    if tag_:
        target = _parse_ref(f"{target.name}:{tag_}")
    target = target.docker_ref()
    image = await _call(ctx.store.resolve, request.match_info["name"])
    await _call(ctx.store.tag, image.id, str(target))
    ctx.events.publish("image", "tag", image.id, {"name": target.familiar()})
    return web.Response(status=201)


async def remove(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    name = request.match_info["name"]
    force = bool_value(request, "force")
    noprune = bool_value(request, "noprune")
    in_use = await asyncio.to_thread(ctx.hooks.images_in_use)
    report = await _call(ctx.store.remove, name, force=force, in_use=in_use)
    for entry in report:
        if "Untagged" in entry:
            ctx.events.publish("image", "untag", entry["Untagged"], {"name": entry["Untagged"]})
        if "Deleted" in entry:
            ctx.events.publish("image", "delete", entry["Deleted"], {"name": entry["Deleted"]})
    if not noprune and any("Deleted" in e for e in report):
        await asyncio.to_thread(ctx.store.collect_garbage)
    return json_response(report)


def _prune_keep(request: web.Request, filters: dict[str, list[str]]) -> set[str]:
    """Image IDs that the ``label``/``until`` filters protect from a prune."""
    from .util import parse_timestamp

    store = ctx_of(request).store
    keep: set[str] = set()
    until = [parse_timestamp(u) for u in filters.get("until", [])]
    for summary in store.list(all_images=True):
        labels = summary["Labels"] or {}
        for want in filters.get("label", []):
            key, eq, value = want.partition("=")
            has = key in labels and (not eq or labels[key] == value)
            if not has:
                keep.add(summary["Id"])
        for want in filters.get("label!", []):
            key, eq, value = want.partition("=")
            if key in labels and (not eq or labels[key] == value):
                keep.add(summary["Id"])
        if any(summary["Created"] >= u for u in until):
            keep.add(summary["Id"])
    return keep


async def prune(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    filters = parse_filters(request, PRUNE_FILTERS)
    dangling = (filters.get("dangling") or ["true"])[-1].lower()
    all_images = dangling in ("false", "0")
    in_use = await asyncio.to_thread(ctx.hooks.images_in_use)
    in_use |= await _call(_prune_keep, request, filters)
    result = await _call(ctx.store.prune, all_images=all_images, in_use=in_use)
    for entry in result.get("ImagesDeleted") or []:
        if "Deleted" in entry:
            ctx.events.publish("image", "delete", entry["Deleted"], {"name": entry["Deleted"]})
    ctx.events.publish("image", "prune", "", {"reclaimed": str(result["SpaceReclaimed"])})
    return json_response(result)


async def commit(request: web.Request) -> web.Response:
    """``POST /commit``: a container's writable layer as a new image (201 {"Id"})."""
    import json

    from ..image.config import InvalidConfig, parse_run_config
    from ..image.local import commit_snapshot

    ctx = ctx_of(request)
    container = request.query.get("container", "")
    if not container:
        raise BadParameter("container is required")
    repo, tag_ = request.query.get("repo", ""), request.query.get("tag", "")
    tags = []
    if repo:
        target = _parse_ref(f"{repo}:{tag_}" if tag_ else repo)
        if target.digest:
            raise BadParameter("refusing to create a tag with a digest reference")
        tags.append(str(target.docker_ref()))
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError as err:
        raise BadParameter(f"invalid JSON: {err}") from None
    source = await asyncio.to_thread(ctx.hooks.commit_source, container)
    config_obj = body if isinstance(body, dict) and body else source.config
    try:
        run_config = parse_run_config(config_obj) if config_obj else None
    except (InvalidConfig, ValueError) as err:
        raise BadParameter(str(err)) from None
    base = await _call(ctx.store.resolve, source.image_id) if source.image_id else None
    try:
        image = await _call(commit_snapshot, ctx.store, source.snapshot_key, base=base,
                            tags=tags, changes=request.query.getall("changes", []),
                            author=request.query.get("author", ""),
                            message=request.query.get("comment", ""),
                            container_config=run_config)
    except (InvalidConfig, ValueError) as err:
        raise BadParameter(str(err)) from None
    ctx.events.publish("container", "commit", source.container_id,
                       {"comment": request.query.get("comment", ""),
                        "imageName": tags[0] if tags else ""})
    return json_response({"Id": image.id}, 201)


# --- save / load -------------------------------------------------------------------------


async def get_one(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def get_many(request: web.Request) -> web.StreamResponse:
    names = request.query.getall("names", [])
    if not names:
        raise BadParameter("no images named: use names=")
    return await _save(request, names)


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    from ..image.tarexport import save

    ctx = ctx_of(request)
    for name in names:  # 404 before the stream starts
        await _call(ctx.store.resolve, name)
    response = web.StreamResponse(status=200)
    response.content_type = "application/x-tar"
    await stream_from_thread(request, response, lambda out: save(ctx.store, names, out))
    for name in names:
        ctx.events.publish("image", "save", name, {"name": name})
    await response.write_eof()
    return response


async def load(request: web.Request) -> web.StreamResponse:
    from ..image.tarexport import ArchiveFormatError
    from ..image.tarexport import load as load_archive

    ctx = ctx_of(request)
    quiet = bool_value(request, "quiet")
    with tempfile.TemporaryFile(dir=ctx.store.root) as spool:
        await spool_body(request, spool)
        await asyncio.to_thread(spool.seek, 0)
        try:
            loaded = await _call(load_archive, ctx.store, spool)
        except (ArchiveFormatError, ValueError) as err:
            raise BadParameter(str(err)) from None
    del quiet  # no per-layer progress is sent either way; "Loaded image" lines always are
    stream = JsonStream(request)
    for line in loaded:
        text = line if line.startswith("Loaded image") else f"Loaded image: {line}"
        await stream.send({"stream": text.rstrip("\n") + "\n"})
        name = text.split(": ", 1)[-1].strip()
        ctx.events.publish("image", "load", name, {"name": name})
    return await stream.finish()


ROUTES = [
    ("GET", "/images/json", list_images),
    ("GET", "/system/df", disk_usage),
    ("POST", "/images/create", create),
    ("POST", "/images/load", load),
    ("POST", "/images/prune", prune),
    ("GET", "/images/get", get_many),
    ("GET", "/images/{name:.+}/json", inspect),
    ("GET", "/images/{name:.+}/history", history),
    ("GET", "/images/{name:.+}/get", get_one),
    ("POST", "/images/{name:.+}/push", push),
    ("POST", "/images/{name:.+}/tag", tag),
    ("DELETE", "/images/{name:.+}", remove),
    ("POST", "/commit", commit),
]

_ = Unauthorized  # re-exported status for engine routers mapping registry auth failures
