"""Helpers shared by the commands: filters, terminals, per-object loops."""

from __future__ import annotations

from ..context import CLIError

TYPE_CHECKING = False  # typing costs every command's start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from ..context import Context


def parse_filters(values: Iterable[str]) -> dict[str, list[str]]:
    """``--filter key=value`` (repeatable) → ``{"key": ["value", ...]}``."""
    out: dict[str, list[str]] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise CLIError(f'invalid argument "{item}" for "-f, --filter" flag: '
                           "bad format of filter (expected name=value)", 125)
        out.setdefault(key.strip().lower(), []).append(value.strip())
    return out


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def binary_out(ctx: Context) -> Any:
    return getattr(ctx.stdout, "buffer", ctx.stdout)


def write_stream(ctx: Context, chunks: Iterable[bytes], output: str | None) -> None:
    """A tar stream to ``output`` (written to a temporary name and renamed into place, so
    a failed transfer leaves no partial file) or, without one, to stdout."""
    import os

    if output:
        tmp = f"{output}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
            os.replace(tmp, output)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return
    out = binary_out(ctx)
    for chunk in chunks:
        out.write(chunk)
    out.flush()


def for_each(ctx: Context, names: list[str], action: Callable[[str], Any],
             echo: bool = True) -> int:
    """Run ``action`` on each name; print the name (success) or the daemon's error, go on,
    and exit 1 if any failed (docker's rm/stop/kill/pause/...). No daemon: stop at once."""
    from dockyard.client.errors import APIError

    failed = False
    for name in names:
        try:
            result = action(name)
        except APIError as exc:
            ctx.stderr.write(f"Error response from daemon: {exc.message}\n")
            failed = True
            continue
        if echo:
            ctx.stdout.write(f"{name if result is None else result}\n")
    return 1 if failed else 0


def registry_auth(ctx: Context, ref: str) -> dict[str, str]:
    """The stored login for the registry of ``ref``, as ``X-Registry-Auth`` fields."""
    from dockyard.client.images import registry_of
    from dockyard.distribution.credentials import ConfigError, get_credentials

    registry = registry_of(ref)
    try:
        auth = get_credentials(registry, ctx.config_file)
    except (ConfigError, OSError):
        return {}
    if auth is None:
        return {}
    out = {"username": auth.username, "password": auth.password,
           "serveraddress": registry}
    if auth.identity_token:
        out["identitytoken"] = auth.identity_token
    return out
