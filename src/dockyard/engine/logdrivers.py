"""Log drivers: json-file, local and none.

Choices. ``json-file`` is Docker's: ``<container dir>/<id>-json.log`` (rotated to
``.1``, ``.2`` ...), unlimited unless ``max-size`` is given. ``local`` keeps Docker's
file place (``<container dir>/local-logs/container.log``) and defaults (max-size 20m,
max-file 5) but NOT its protobuf framing: it is written in the json-file line format,
so the same writer (jsonlog.JSONFileWriter) and reader serve both; only dockyard reads
these files, through ``logs``. Compression (``compress``) is accepted and ignored.
``none`` keeps nothing, and ``logs`` answers Docker's
"configured logging driver does not support reading" (501).
"""

from __future__ import annotations

import os
from typing import Any

from .errors import EngineError, InvalidParameter

DRIVERS = ("json-file", "local", "none")
OPTS = {
    "json-file": {"max-size", "max-file", "compress", "labels", "labels-regex", "env",
                  "env-regex", "tag"},
    "local": {"max-size", "max-file", "compress"},
    "none": set(),
}
LOCAL_MAX_SIZE = 20 * 1024 * 1024
LOCAL_MAX_FILE = 5


class ReadNotSupported(EngineError):
    status = 501

    def __init__(self) -> None:
        super().__init__("configured logging driver does not support reading")


def driver_of(host_config: dict[str, Any]) -> str:
    return (host_config.get("LogConfig") or {}).get("Type") or "json-file"


def validate(log_config: dict[str, Any] | None) -> None:
    """Docker's create-time checks of HostConfig.LogConfig."""
    from .spec import parse_bytes

    log_config = log_config or {}
    kind = log_config.get("Type") or "json-file"
    if kind not in DRIVERS:
        raise InvalidParameter(f"logger: no log driver named '{kind}' is registered")
    opts = log_config.get("Config") or {}
    for key in opts:
        if key not in OPTS[kind]:
            raise InvalidParameter(f"unknown log opt '{key}' for {kind} log driver")
    if "max-size" in opts:
        try:
            size = parse_bytes(opts["max-size"], "max-size")
        except EngineError as err:
            raise InvalidParameter(err.message) from None
        if kind == "local" and size <= 0:
            raise InvalidParameter("max-size must be a positive number")
    if "max-file" in opts:
        try:
            n = int(opts["max-file"])
        except ValueError:
            raise InvalidParameter(f"invalid max-file: {opts['max-file']!r}") from None
        if n < 1:
            raise InvalidParameter("max-file cannot be less than 1")


def log_path(container_dir: str, cid: str, host_config: dict[str, Any]) -> str:
    """The (newest) log file; "" for none."""
    kind = driver_of(host_config)
    if kind == "none":
        return ""
    if kind == "local":
        return os.path.join(container_dir, "local-logs", "container.log")
    return os.path.join(container_dir, f"{cid}-json.log")


def rotation(host_config: dict[str, Any], default_size: int = -1,
             default_files: int = 1) -> tuple[int, int]:
    """(max size in bytes or -1, max files) for the shim's writer."""
    from .spec import parse_bytes

    kind = driver_of(host_config)
    opts = (host_config.get("LogConfig") or {}).get("Config") or {}
    if kind == "local":
        default_size, default_files = LOCAL_MAX_SIZE, LOCAL_MAX_FILE
    size = parse_bytes(opts["max-size"], "max-size") if opts.get("max-size") \
        else default_size
    files = int(opts["max-file"]) if opts.get("max-file") else default_files
    return size, files


def check_readable(host_config: dict[str, Any]) -> None:
    if driver_of(host_config) == "none":
        raise ReadNotSupported()
