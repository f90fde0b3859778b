"""Image configs: the OCI image config / Docker image JSON, history, IDs, ``--change``, inspect.

Theory of operation
-------------------
An image *config* is the JSON blob a manifest's ``config`` descriptor points at. Its
sha256 is the image ID (``docker images`` shows its first 12 hex digits). So, as for
manifests, a parsed config keeps its exact bytes (``raw``) and :attr:`ImageConfig.image_id`
hashes those; a config dockyard creates (import, commit, build) is serialised with
:func:`~dockyard.image.manifest.canonical_json` and ``raw`` is filled from that.

Two records:

- :class:`RunConfig` is the ``config`` object: the defaults a container starts with
  (OCI ``ImageConfig`` plus Docker's ``container.Config`` fields: Healthcheck, OnBuild,
  Shell, ...). ``None`` and ``[]`` are kept apart, because Docker keeps them apart
  (``"Entrypoint": null`` vs ``[]``).
- :class:`ImageConfig` is the whole document: platform, ``rootfs.diff_ids``,
  ``history``, ``created``/``author`` and Docker's legacy fields. Unknown top-level
  keys are kept in ``extra`` and written back.

Layers are identified three ways (image-spec config.md): the *digest* of the blob as
transferred, the *DiffID* (digest of the uncompressed tar, listed in ``rootfs``) and the
*ChainID*, which names a layer together with everything under it::

    ChainID(L0)    = DiffID(L0)
    ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))

:func:`dockyard.image.changes.apply_changes` is what ``docker commit --change`` and
``docker import --change`` do: the changes are joined with newlines, parsed as
Dockerfile lines, and the allowed instructions (CMD, ENTRYPOINT, ENV, EXPOSE,
HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR) are applied to a
copy of the config, with Docker's semantics and error texts (moby
``builder/dockerfile``, BuildKit's Dockerfile parser).

:func:`dockyard.image.inspect.inspect_json` shapes ``GET /images/{name}/json``
(``docker image inspect``).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard.image.manifest import (
    InvalidDigest,
    canonical_json,
    json_type_name,
    sha256_digest,
    validate_digest,
)

__all__ = [
    "HealthConfig",
    "HistoryEntry",
    "ImageConfig",
    "InvalidConfig",
    "RunConfig",
    "chain_id",
    "chain_ids",
    "format_time",
    "new_image_config",
    "normalize_time",
    "parse_image_config",
    "parse_run_config",
    "parse_time",
]


class InvalidConfig(ValueError):
    """An image config that is not well formed; the message names the field."""


# --- times --------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})"
)


def _parse_time_parts(text: str) -> tuple[_dt.datetime, int]:
    """(aware datetime without sub-seconds, nanoseconds)."""
    m = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"invalid RFC 3339 time {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7) or "", m.group(8)
    if zone == "Z":
        tz = _dt.UTC
    else:
        hh, mm = int(zone[1:3]), int(zone[4:6])
        if hh > 23 or mm > 59:
            raise ValueError(f"invalid RFC 3339 time {text!r}: bad zone offset")
        off = _dt.timedelta(hours=hh, minutes=mm)
        tz = _dt.timezone(-off if zone[0] == "-" else off)
    try:
        when = _dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError as e:
        raise ValueError(f"invalid RFC 3339 time {text!r}: {e}") from None
    nanos = int((frac + "000000000")[:9]) if frac else 0
    return when, nanos


def parse_time(text: str) -> _dt.datetime:
    """An RFC 3339 time (as Go's ``time.Time`` reads it) to an aware datetime (µs)."""
    when, nanos = _parse_time_parts(text)
    return when.replace(microsecond=nanos // 1000)


def normalize_time(text: str) -> str:
    """Re-format as Go's ``time.RFC3339Nano`` does: trailing zeros of the fraction
    dropped, a zero offset written ``Z`` (what ``docker image inspect`` shows)."""
    when, nanos = _parse_time_parts(text)
    off = when.utcoffset() or _dt.timedelta(0)
    s = when.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        s += "." + f"{nanos:09d}".rstrip("0")
    if not off:
        return s + "Z"
    total = int(off.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return f"{s}{sign}{total // 60:02d}:{total % 60:02d}"


def format_time(ns: int) -> str:
    """Nanoseconds since the epoch to RFC3339Nano in UTC (for new configs and history)."""
    secs, nanos = divmod(int(ns), 1_000_000_000)
    when = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC) + _dt.timedelta(seconds=secs)
    s = when.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        s += "." + f"{nanos:09d}".rstrip("0")
    return s + "Z"


def _timestamp(text: str) -> int:
    when, _ = _parse_time_parts(text)
    return int(when.timestamp())


# --- chain IDs ----------------------------------------------------------------------


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The ChainID of every prefix of ``diff_ids`` (bottom layer first)."""
    out: list[str] = []
    for d in diff_ids:
        validate_digest(d)
        if not out:
            out.append(d)
        else:
            out.append(sha256_digest(f"{out[-1]} {d}".encode()))
    return out


def chain_id(diff_ids: Sequence[str]) -> str:
    """ChainID of the whole stack; ``""`` for no layers."""
    ids = chain_ids(diff_ids)
    return ids[-1] if ids else ""


# --- field readers ------------------------------------------------------------------




def _str(obj: object, where: str) -> str:
    if obj is None:
        return ""
    if not isinstance(obj, str):
        raise InvalidConfig(f"{where}: expected a string, got {json_type_name(obj)}")
    return obj


def _bool(obj: object, where: str) -> bool:
    if obj is None:
        return False
    if not isinstance(obj, bool):
        raise InvalidConfig(f"{where}: expected a boolean, got {json_type_name(obj)}")
    return obj


def _int(obj: object, where: str) -> int:
    if obj is None:
        return 0
    if isinstance(obj, bool) or not isinstance(obj, int):
        if isinstance(obj, float) and obj.is_integer():
            return int(obj)
        raise InvalidConfig(f"{where}: expected an integer, got {json_type_name(obj)}")
    return obj


def _str_list(obj: object, where: str) -> list[str] | None:
    if obj is None:
        return None
    if not isinstance(obj, list) or not all(isinstance(s, str) for s in obj):
        raise InvalidConfig(f"{where}: expected an array of strings, got {json_type_name(obj)}")
    return list(obj)


def _str_slice(obj: object, where: str) -> list[str] | None:
    """Docker's ``StrSlice``: a JSON string is read as a one-element list."""
    if isinstance(obj, str):
        return [obj]
    return _str_list(obj, where)


def _str_map(obj: object, where: str) -> dict[str, str] | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise InvalidConfig(f"{where}: expected an object, got {json_type_name(obj)}")
    out = {}
    for k, v in obj.items():
        if v is None:
            v = ""
        if not isinstance(v, str):
            raise InvalidConfig(f"{where}[{k!r}]: expected a string, got {json_type_name(v)}")
        out[k] = v
    return out


def _set(obj: object, where: str) -> dict[str, dict[str, Any]] | None:
    """``{"key": {}}`` sets (ExposedPorts, Volumes)."""
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise InvalidConfig(f"{where}: expected an object, got {json_type_name(obj)}")
    for k, v in obj.items():
        if v is not None and not isinstance(v, dict):
            raise InvalidConfig(f"{where}[{k!r}]: expected an object, got {json_type_name(v)}")
    return {k: {} for k in obj}


# --- HealthConfig -------------------------------------------------------------------


@dataclass
class HealthConfig:
    """Docker's ``Healthcheck``; durations in nanoseconds, 0 = inherit/default."""

    test: list[str] | None = None
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def to_json(self) -> dict[str, Any]:
        """Go's field order and ``omitempty`` (the same in the blob and over the API)."""
        out: dict[str, Any] = {}
        if self.test:
            out["Test"] = list(self.test)
        for key, value in (
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
            ("Retries", self.retries),
        ):
            if value:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, obj: object, where: str = "Healthcheck") -> HealthConfig:
        if not isinstance(obj, dict):
            raise InvalidConfig(f"{where}: expected an object, got {json_type_name(obj)}")
        return cls(
            _str_list(obj.get("Test"), f"{where}.Test"),
            _int(obj.get("Interval"), f"{where}.Interval"),
            _int(obj.get("Timeout"), f"{where}.Timeout"),
            _int(obj.get("StartPeriod"), f"{where}.StartPeriod"),
            _int(obj.get("StartInterval"), f"{where}.StartInterval"),
            _int(obj.get("Retries"), f"{where}.Retries"),
        )


# --- RunConfig ----------------------------------------------------------------------


def _names(text: str) -> frozenset[str]:
    """A set of blank-separated names (long constant lists stay readable)."""
    return frozenset(text.split())


# JSON key -> (attribute, kind). Order is Go's container.Config field order.
_RUN_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("Hostname", "hostname", "str"),
    ("Domainname", "domainname", "str"),
    ("User", "user", "str"),
    ("AttachStdin", "attach_stdin", "bool"),
    ("AttachStdout", "attach_stdout", "bool"),
    ("AttachStderr", "attach_stderr", "bool"),
    ("ExposedPorts", "exposed_ports", "set"),
    ("Tty", "tty", "bool"),
    ("OpenStdin", "open_stdin", "bool"),
    ("StdinOnce", "stdin_once", "bool"),
    ("Env", "env", "list"),
    ("Cmd", "cmd", "slice"),
    ("Healthcheck", "healthcheck", "health"),
    ("ArgsEscaped", "args_escaped", "bool"),
    ("Image", "image", "str"),
    ("Volumes", "volumes", "set"),
    ("WorkingDir", "working_dir", "str"),
    ("Entrypoint", "entrypoint", "slice"),
    ("NetworkDisabled", "network_disabled", "bool"),
    ("MacAddress", "mac_address", "str"),
    ("OnBuild", "on_build", "list"),
    ("Labels", "labels", "map"),
    ("StopSignal", "stop_signal", "str"),
    ("StopTimeout", "stop_timeout", "optint"),
    ("Shell", "shell", "slice"),
)
_RUN_KEYS = {k: (a, kind) for k, a, kind in _RUN_FIELDS}
_RUN_KEYS_LOWER = {k.lower(): k for k in _RUN_KEYS}
# Fields Go writes even when empty (no omitempty): what `docker image inspect` shows.
_ALWAYS = _names(
    "Hostname Domainname User AttachStdin AttachStdout AttachStderr Tty OpenStdin StdinOnce "
    "Env Cmd Image Volumes WorkingDir Entrypoint OnBuild Labels"
)


@dataclass
class RunConfig:
    """The ``config`` object of an image: defaults for containers run from it."""

    user: str = ""
    exposed_ports: dict[str, dict[str, Any]] | None = None
    env: list[str] | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    volumes: dict[str, dict[str, Any]] | None = None
    working_dir: str = ""
    labels: dict[str, str] | None = None
    stop_signal: str = ""
    args_escaped: bool = False
    healthcheck: HealthConfig | None = None
    on_build: list[str] | None = None
    shell: list[str] | None = None
    # Docker's container.Config fields that images carry but nothing should use
    hostname: str = ""
    domainname: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    image: str = ""
    network_disabled: bool = False
    mac_address: str = ""
    stop_timeout: int | None = None
    #: keys we do not know, written back unchanged
    extra: dict[str, Any] = field(default_factory=dict)

    def env_map(self) -> dict[str, str]:
        """``Env`` as a mapping (a bare ``NAME`` maps to ``""``)."""
        out = {}
        for item in self.env or []:
            k, _, v = item.partition("=")
            out[k] = v
        return out

    def to_json(self) -> dict[str, Any]:
        """The object as written into an image config (empty fields left out, but ``[]``
        and ``{}`` kept apart from ``null``)."""
        out: dict[str, Any] = {}
        for key, attr, kind in _RUN_FIELDS:
            value = getattr(self, attr)
            if kind in ("str", "bool"):
                if value:
                    out[key] = value
            elif kind == "optint":
                if value is not None:
                    out[key] = value
            elif kind == "health":
                if value is not None:
                    out[key] = value.to_json()
            elif value is not None:
                out[key] = copy.deepcopy(value)
        for k, v in self.extra.items():
            out.setdefault(k, copy.deepcopy(v))
        return out

    def docker_json(self) -> dict[str, Any]:
        """Go's ``container.Config`` encoding: every non-``omitempty`` field present,
        ``null`` for an absent list or map (the ``Config`` of ``docker image inspect``)."""
        out: dict[str, Any] = {}
        for key, attr, kind in _RUN_FIELDS:
            value = getattr(self, attr)
            if kind == "health":
                if value is not None:
                    out[key] = value.to_json()
                continue
            if key in _ALWAYS:
                out[key] = copy.deepcopy(value)
            elif kind == "optint":
                if value is not None:
                    out[key] = value
            elif value:
                out[key] = copy.deepcopy(value)
        return out


def parse_run_config(obj: object, where: str = "config") -> RunConfig:
    """Read a ``config`` object (field names matched as Go does: exact, then any case)."""
    if not isinstance(obj, dict):
        raise InvalidConfig(f"{where}: expected an object, got {json_type_name(obj)}")
    rc = RunConfig()
    seen: set[str] = set()
    # exact names first, so that {"Env": .., "env": ..} resolves as Go does
    items = sorted(obj.items(), key=lambda kv: kv[0] not in _RUN_KEYS)
    for key, value in items:
        canon = key if key in _RUN_KEYS else _RUN_KEYS_LOWER.get(key.lower())
        if canon is None:
            rc.extra[key] = value
            continue
        if canon in seen:
            continue
        seen.add(canon)
        attr, kind = _RUN_KEYS[canon]
        w = f"{where}.{canon}"
        parsed: Any
        if kind == "str":
            parsed = _str(value, w)
        elif kind == "bool":
            parsed = _bool(value, w)
        elif kind == "set":
            parsed = _set(value, w)
        elif kind == "list":
            parsed = _str_list(value, w)
        elif kind == "slice":
            parsed = _str_slice(value, w)
        elif kind == "map":
            parsed = _str_map(value, w)
        elif kind == "health":
            parsed = None if value is None else HealthConfig.from_json(value, w)
        else:  # optint
            parsed = None if value is None else _int(value, w)
        setattr(rc, attr, parsed)
    return rc


# --- history and the image config ---------------------------------------------------


@dataclass
class HistoryEntry:
    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        if self.author:
            out["author"] = self.author
        if self.created_by:
            out["created_by"] = self.created_by
        if self.comment:
            out["comment"] = self.comment
        if self.empty_layer:
            out["empty_layer"] = True
        return out

    @classmethod
    def from_json(cls, obj: object, where: str) -> HistoryEntry:
        if not isinstance(obj, dict):
            raise InvalidConfig(f"{where}: expected an object, got {json_type_name(obj)}")
        created = _str(obj.get("created"), f"{where}.created")
        if created:
            _check_time(created, f"{where}.created")
        return cls(
            created,
            _str(obj.get("created_by"), f"{where}.created_by"),
            _str(obj.get("author"), f"{where}.author"),
            _str(obj.get("comment"), f"{where}.comment"),
            _bool(obj.get("empty_layer"), f"{where}.empty_layer"),
        )


def _check_time(text: str, where: str) -> None:
    try:
        _parse_time_parts(text)
    except ValueError as e:
        raise InvalidConfig(f"{where}: {e}") from None


_KNOWN_TOP = _names(
    "architecture os os.version os.features variant created author config rootfs history "
    "comment container container_config docker_version parent"
)


@dataclass
class ImageConfig:
    """A whole image config document."""

    architecture: str = ""
    os: str = ""
    variant: str = ""
    os_version: str = ""
    os_features: list[str] | None = None
    created: str = ""
    author: str = ""
    config: RunConfig | None = None
    diff_ids: list[str] = field(default_factory=list)
    rootfs_type: str = "layers"
    history: list[HistoryEntry] = field(default_factory=list)
    # Docker's legacy (v1) fields
    comment: str = ""
    container: str = ""
    container_config: RunConfig | None = None
    docker_version: str = ""
    parent: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: the exact bytes this was parsed from; ``b""`` for a config built in memory
    raw: bytes = field(default=b"", repr=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (
            ("architecture", self.architecture),
            ("author", self.author),
            ("comment", self.comment),
            ("container", self.container),
            ("created", self.created),
            ("docker_version", self.docker_version),
            ("os", self.os),
            ("os.version", self.os_version),
            ("parent", self.parent),
            ("variant", self.variant),
        ):
            if value:
                out[key] = value
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.config is not None:
            out["config"] = self.config.to_json()
        if self.container_config is not None:
            out["container_config"] = self.container_config.to_json()
        out["rootfs"] = {"type": self.rootfs_type, "diff_ids": list(self.diff_ids)}
        if self.history:
            out["history"] = [h.to_json() for h in self.history]
        for k, v in self.extra.items():
            out.setdefault(k, copy.deepcopy(v))
        return out

    def to_bytes(self) -> bytes:
        """Canonical bytes of the current contents (ignores ``raw``)."""
        return canonical_json(self.to_json())

    def sealed(self) -> ImageConfig:
        """A copy whose ``raw`` is its canonical bytes: ready to store and push."""
        c = copy.deepcopy(self)
        c.raw = c.to_bytes()
        return c

    @property
    def blob(self) -> bytes:
        """The bytes to store and push: ``raw`` when parsed or sealed, else canonical."""
        return self.raw or self.to_bytes()

    @property
    def image_id(self) -> str:
        """Docker's image ID: ``sha256:`` + hex digest of the config bytes."""
        return sha256_digest(self.blob)

    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)

    def chain_id(self) -> str:
        return chain_id(self.diff_ids)

    @property
    def created_timestamp(self) -> int:
        """Unix seconds of ``created`` (0 when absent): the ``Created`` of image lists."""
        return _timestamp(self.created) if self.created else 0

    def platform_string(self) -> str:
        s = f"{self.os or 'linux'}/{self.architecture}"
        return f"{s}/{self.variant}" if self.variant else s


def parse_image_config(data: bytes) -> ImageConfig:
    """Parse and validate an image config blob; ``raw`` keeps ``data`` for the image ID.

    Checks what Docker and the OCI spec require: a JSON object, ``rootfs`` of type
    ``layers`` with valid diff IDs, strings where strings belong, RFC 3339 times, and
    no more non-empty history entries than layers.
    """
    data = bytes(data)
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidConfig("image config is not UTF-8") from None
    except json.JSONDecodeError as e:
        raise InvalidConfig(f"image config is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidConfig(f"image config must be a JSON object, got {json_type_name(doc)}")
    cfg = ImageConfig(raw=data)
    cfg.architecture = _str(doc.get("architecture"), "architecture")
    cfg.os = _str(doc.get("os"), "os")
    cfg.variant = _str(doc.get("variant"), "variant")
    cfg.os_version = _str(doc.get("os.version"), "os.version")
    cfg.os_features = _str_list(doc.get("os.features"), "os.features")
    cfg.created = _str(doc.get("created"), "created")
    if cfg.created:
        _check_time(cfg.created, "created")
    cfg.author = _str(doc.get("author"), "author")
    cfg.comment = _str(doc.get("comment"), "comment")
    cfg.container = _str(doc.get("container"), "container")
    cfg.docker_version = _str(doc.get("docker_version"), "docker_version")
    cfg.parent = _str(doc.get("parent"), "parent")
    if doc.get("config") is not None:
        cfg.config = parse_run_config(doc["config"], "config")
    if doc.get("container_config") is not None:
        cfg.container_config = parse_run_config(doc["container_config"], "container_config")
    rootfs = doc.get("rootfs")
    if rootfs is None:
        raise InvalidConfig("invalid image JSON, no RootFS key")
    if not isinstance(rootfs, dict):
        raise InvalidConfig(f"rootfs: expected an object, got {json_type_name(rootfs)}")
    cfg.rootfs_type = _str(rootfs.get("type"), "rootfs.type")
    if cfg.rootfs_type != "layers":
        raise InvalidConfig(
            f"rootfs.type: unsupported type {cfg.rootfs_type!r} (expected 'layers')"
        )
    diff_ids = _str_list(rootfs.get("diff_ids"), "rootfs.diff_ids") or []
    for i, d in enumerate(diff_ids):
        try:
            validate_digest(d)
        except InvalidDigest as e:
            raise InvalidConfig(f"rootfs.diff_ids[{i}]: {e}: {d!r}") from None
    cfg.diff_ids = diff_ids
    history = doc.get("history")
    if history is not None:
        if not isinstance(history, list):
            raise InvalidConfig(f"history: expected an array, got {json_type_name(history)}")
        cfg.history = [HistoryEntry.from_json(h, f"history[{i}]") for i, h in enumerate(history)]
    if sum(1 for h in cfg.history if not h.empty_layer) > len(cfg.diff_ids):
        raise InvalidConfig("too many non-empty layers in History section")
    cfg.extra = {k: v for k, v in doc.items() if k not in _KNOWN_TOP}
    return cfg


def new_image_config(
    *,
    architecture: str,
    os: str = "linux",
    variant: str = "",
    diff_ids: Sequence[str] = (),
    config: RunConfig | None = None,
    created: str = "",
    author: str = "",
    comment: str = "",
    history: Sequence[HistoryEntry] = (),
) -> ImageConfig:
    """A new config (import, commit, bootstrap), sealed: ``raw`` holds canonical bytes."""
    for d in diff_ids:
        validate_digest(d)
    if created:
        _check_time(created, "created")
    cfg = ImageConfig(
        architecture=architecture,
        os=os,
        variant=variant,
        created=created,
        author=author,
        comment=comment,
        config=config,
        diff_ids=list(diff_ids),
        history=list(history),
    )
    if sum(1 for h in cfg.history if not h.empty_layer) > len(cfg.diff_ids):
        raise InvalidConfig("too many non-empty layers in History section")
    return cfg.sealed()
