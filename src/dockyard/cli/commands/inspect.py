"""``inspect``, ``image inspect``, ``container inspect``: JSON arrays, or ``--format``."""

from __future__ import annotations

from ..context import CLIError
from ..template import Template, TemplateError

TYPE_CHECKING = False  # typing costs start-up
if TYPE_CHECKING:
    from typing import Any

    from ..context import Context
    from ..flags import Parsed


def _render(ctx: Context, opts: Parsed, found: list[Any]) -> None:
    if not opts.format:
        import json  # the indenting encoder is json's own (pure Python, imports re)

        ctx.stdout.write(json.dumps(found, indent=4, ensure_ascii=False) + "\n")
        return
    text = opts.format
    if text == "json":
        text = "{{json .}}"
    template = Template(text.replace("\\t", "\t").replace("\\n", "\n"))
    for obj in found:
        try:
            ctx.stdout.write(template.render(obj) + "\n")
        except TemplateError as exc:
            raise CLIError(f"{exc}") from None


def _inspect(ctx: Context, opts: Parsed, kinds: list[str], missing: str) -> int:
    from dockyard.client.errors import APIError

    found: list[Any] = []
    errors: list[str] = []
    for name in opts.args:
        obj = None
        for kind in kinds:
            try:
                if kind == "container":
                    obj = ctx.client.inspect_container(name, size=bool(opts.values.get("size")))
                elif kind == "image":
                    obj = ctx.client.inspect_image(name)
                elif kind == "network":
                    obj = ctx.client.inspect_network(name)
                else:
                    obj = ctx.client.inspect_volume(name)
                break
            except APIError as exc:
                if exc.status != 404:
                    raise
        if obj is None:
            errors.append(missing.format(name=name))
        else:
            found.append(obj)
    if found or not errors:
        _render(ctx, opts, found)
    if errors:
        ctx.stderr.write("".join(f"{e}\n" for e in errors))
        return 1
    return 0


def inspect(ctx: Context, opts: Parsed) -> int:
    # docker's lookup order when no --type is given
    everything = ["container", "image", "network", "volume"]
    kinds = {"": everything, **{k: [k] for k in everything}}
    kind = opts.type or ""
    if kind not in kinds:
        raise CLIError(f'"{kind}" is not a valid value for --type')
    return _inspect(ctx, opts, kinds[kind], "Error: No such object: {name}")


def image_inspect(ctx: Context, opts: Parsed) -> int:
    return _inspect(ctx, opts, ["image"], "Error: No such image: {name}")


def container_inspect(ctx: Context, opts: Parsed) -> int:
    return _inspect(ctx, opts, ["container"], "Error: No such container: {name}")
