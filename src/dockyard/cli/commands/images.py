"""Image commands: images, pull, push, tag, rmi, history, save, load, import."""

from __future__ import annotations

import time

from dockyard.client.images import normalize_name, split_repo_tag

from .. import format as fmt
from ..context import CLIError
from ..progress import display
from .common import (
    for_each,
    is_terminal,
    parse_filters,
    registry_auth,
    write_stream,
)

TYPE_CHECKING = False  # typing costs every command's start-up
if TYPE_CHECKING:
    from typing import Any

    from ..context import Context
    from ..flags import Parsed

IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                 "ID": "IMAGE ID", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                 "Size": "SIZE", "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE",
                 "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE"}


def familiar_name(name: str) -> str:
    """``docker.io/library/busybox`` → ``busybox``; ``docker.io/x/y`` → ``x/y``."""
    if name.startswith("docker.io/library/") and "/" not in name[len("docker.io/library/"):]:
        return name[len("docker.io/library/"):]
    if name.startswith("docker.io/"):
        return name[len("docker.io/"):]
    return name


def _split_ref(ref: str) -> tuple[str, str]:
    """``repo:tag`` or ``repo@digest`` → (familiar repo, tag-or-digest)."""
    name, value = split_repo_tag(ref)
    return familiar_name(name), value


def image_rows(images: list[dict[str, Any]], digests: bool, trunc: bool,
               now: float | None = None) -> list[fmt.Row]:
    """docker's image table rows: one per repository:tag (and per digest with --digests)."""
    rows = []
    for image in images:
        tags: dict[str, list[str]] = {}
        dgsts: dict[str, list[str]] = {}
        for ref in image.get("RepoTags") or []:
            if ref == "<none>:<none>":
                continue
            repo, tag = _split_ref(ref)
            tags.setdefault(repo, []).append(tag)
        for ref in image.get("RepoDigests") or []:
            if ref == "<none>@<none>":
                continue
            repo, digest = _split_ref(ref)
            dgsts.setdefault(repo, []).append(digest)
        entries: list[tuple[str, str, str]] = []
        for repo, repo_tags in tags.items():
            repo_digests = dgsts.pop(repo, [])
            for tag in repo_tags:
                if digests and repo_digests:
                    entries += [(repo, tag, d) for d in repo_digests]
                else:
                    entries.append((repo, tag, "<none>"))
        for repo, repo_digests in dgsts.items():
            if digests:
                entries += [(repo, "<none>", d) for d in repo_digests]
            else:
                entries.append((repo, "<none>", "<none>"))
        if not entries:
            entries.append(("<none>", "<none>", "<none>"))
        for repo, tag, digest in entries:
            rows.append(_image_row(image, repo, tag, digest, trunc, now))
    return rows


def _image_row(image: dict[str, Any], repo: str, tag: str, digest: str, trunc: bool,
               now: float | None) -> fmt.Row:
    image_id = image.get("Id", "")
    created = image.get("Created", 0) or 0
    size = image.get("Size", 0) or 0
    shared = image.get("SharedSize", -1)
    containers = image.get("Containers", -1)
    return fmt.Row({
        "ID": fmt.truncate_id(image_id) if trunc else image_id,
        "Repository": repo,
        "Tag": tag,
        "Digest": digest,
        "CreatedSince": lambda: fmt.since(created, now),
        "CreatedAt": lambda: fmt.go_time(created),
        "Size": lambda: fmt.human_size(size, 3),
        "Containers": "N/A" if containers is None or containers < 0 else str(containers),
        "SharedSize": "N/A" if shared is None or shared < 0 else fmt.human_size(shared, 3),
        "UniqueSize": "N/A" if shared is None or shared < 0
        else fmt.human_size(size - shared, 3),
        "VirtualSize": lambda: fmt.human_size(size, 3),
    })


def images(ctx: Context, opts: Parsed) -> int:
    if opts.tree:
        raise CLIError("--tree is not supported by dockyard", 125)
    filters = parse_filters(opts.filter)
    found = ctx.client.images(name=opts.args[0] if opts.args else None, all=opts.all,
                              filters=filters)
    rows = image_rows(found, opts.digests, not opts.no_trunc)
    if opts.quiet:
        template = "{{.ID}}"
    elif opts.format:
        template = opts.format
    else:
        template = None
    default = ("table {{.Repository}}\t{{.Tag}}\t"
               + ("{{.Digest}}\t" if opts.digests else "")
               + "{{.ID}}\t{{.CreatedSince}}\t{{.Size}}")
    fmt.write(ctx.stdout, template or "", rows, IMAGE_HEADERS, default)
    return 0


def _full_ref(ref: str) -> str:
    name, value = split_repo_tag(ref)
    sep = "@" if value.startswith("sha256:") else ":"
    return normalize_name(name) + (f"{sep}{value}" if value else ":latest")


def pull(ctx: Context, opts: Parsed) -> int:
    ref = opts.args[0]
    name, tag = split_repo_tag(ref)
    if not tag and not opts.all_tags and not opts.quiet:
        ctx.stdout.write("Using default tag: latest\n")
    stream = ctx.client.pull(ref, platform=opts.platform, all_tags=opts.all_tags,
                             auth=registry_auth(ctx, ref))
    if opts.quiet:
        for _ in _drain(stream):
            pass
    else:
        display(stream, ctx.stdout, terminal=is_terminal(ctx.stdout))
    ctx.stdout.write((normalize_name(name) if opts.all_tags else _full_ref(ref)) + "\n")
    return 0


def _drain(stream: Any) -> Any:
    """Consume a progress stream, raising its error like :func:`display`."""
    import io
    display(stream, io.StringIO())
    return ()


def push(ctx: Context, opts: Parsed) -> int:
    ref = opts.args[0]
    stream = ctx.client.push(ref, auth=registry_auth(ctx, ref), all_tags=opts.all_tags)
    if opts.quiet:
        _drain(stream)
        ctx.stdout.write(_full_ref(ref) + "\n")
    else:
        display(stream, ctx.stdout, terminal=is_terminal(ctx.stdout))
    return 0


def tag(ctx: Context, opts: Parsed) -> int:
    ctx.client.tag(opts.args[0], opts.args[1])
    return 0


def rmi(ctx: Context, opts: Parsed) -> int:
    def remove(name: str) -> str:
        deleted = ctx.client.remove_image(name, force=opts.force, noprune=opts.no_prune)
        lines = []
        for item in deleted or []:
            if item.get("Untagged"):
                lines.append(f"Untagged: {item['Untagged']}")
            if item.get("Deleted"):
                lines.append(f"Deleted: {item['Deleted']}")
        return "\n".join(lines)

    def remove_and_print(name: str) -> None:
        text = remove(name)
        if text:
            ctx.stdout.write(text + "\n")

    return for_each(ctx, opts.args, remove_and_print, echo=False)


HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                   "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}


def history(ctx: Context, opts: Parsed) -> int:
    trunc = not opts.no_trunc
    human = opts.human
    now = fmt.now()
    rows = []
    for layer in ctx.client.history(opts.args[0]):
        layer_id = layer.get("Id", "")
        created = layer.get("Created", 0) or 0
        created_by = (layer.get("CreatedBy") or "").replace("\t", " ")
        size = layer.get("Size", 0) or 0
        rows.append(fmt.Row({
            "ID": fmt.truncate_id(layer_id) if trunc and layer_id.startswith("sha256:")
            else layer_id,
            "CreatedSince": (fmt.since(created, now) if human
                             else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))),
            "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
            "CreatedBy": fmt.ellipsis(created_by, 45) if trunc else created_by,
            "Size": fmt.human_size(size, 3) if human else str(size),
            "Comment": layer.get("Comment", ""),
        }))
    default = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    template = "{{.ID}}" if opts.quiet else (opts.format or "")
    fmt.write(ctx.stdout, template, rows, HISTORY_HEADERS, default)
    return 0


def save(ctx: Context, opts: Parsed) -> int:
    if not opts.output and is_terminal(ctx.stdout):
        raise CLIError("Cowardly refusing to save to a terminal. "
                       "Use the -o flag or redirect")
    chunks = ctx.client.save(opts.args)
    write_stream(ctx, chunks, opts.output)
    return 0


def _read_chunks(f: Any, size: int = 1 << 20) -> Any:
    while True:
        data = f.read(size)
        if not data:
            return
        yield data


def load(ctx: Context, opts: Parsed) -> int:
    if opts.input:
        try:
            f = open(opts.input, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise CLIError(f"open {opts.input}: {exc.strerror.lower()}") from None
    else:
        if is_terminal(ctx.stdin):
            raise CLIError("requested load from stdin, but stdin is empty")
        f = getattr(ctx.stdin, "buffer", ctx.stdin)
    try:
        stream = ctx.client.load(_read_chunks(f), quiet=opts.quiet)
        display(stream, ctx.stdout, terminal=is_terminal(ctx.stdout) and not opts.quiet)
    finally:
        if opts.input:
            f.close()
    return 0


def import_(ctx: Context, opts: Parsed) -> int:
    source = opts.args[0]
    repository = opts.args[1] if len(opts.args) > 1 else ""
    f = None
    body: Any
    if source.startswith(("http://", "https://")):
        body = source
    elif source == "-":
        body = _read_chunks(getattr(ctx.stdin, "buffer", ctx.stdin))
    else:
        try:
            f = open(source, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise CLIError(f"open {source}: {exc.strerror.lower()}") from None
        body = _read_chunks(f)
    try:
        stream = ctx.client.import_image(body, repository=repository, changes=opts.change,
                                         message=opts.message or "", platform=opts.platform)
        display(stream, ctx.stdout, terminal=is_terminal(ctx.stdout))
    finally:
        if f is not None:
            f.close()
    return 0
