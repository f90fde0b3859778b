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

:func:`apply_changes` is what ``docker commit --change`` / ``docker import --change``
do: the changes are joined with newlines, parsed as Dockerfile lines, and the allowed
instructions (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL,
USER, VOLUME, WORKDIR) are applied to a copy of the config, with Docker's semantics and
error texts (moby ``builder/dockerfile``, BuildKit's Dockerfile parser).

:func:`inspect_json` shapes ``GET /images/{name}/json`` (``docker image inspect``).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

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
    "InvalidChange",
    "InvalidConfig",
    "RunConfig",
    "apply_changes",
    "chain_id",
    "chain_ids",
    "format_time",
    "inspect_json",
    "new_image_config",
    "normalize_time",
    "parse_image_config",
    "parse_run_config",
    "parse_time",
]


class InvalidConfig(ValueError):
    """An image config that is not well formed; the message names the field."""


class InvalidChange(ValueError):
    """A ``--change`` instruction that Docker would refuse; ``instruction`` names it."""

    def __init__(self, message: str, instruction: str = "") -> None:
        self.instruction = instruction
        super().__init__(message)


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


# --- docker image inspect -----------------------------------------------------------

_ZERO_TIME = "0001-01-01T00:00:00Z"


def _api_lt(version: str, other: str) -> bool:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".") if p.isdigit())

    return key(version) < key(other)


def inspect_json(
    config: ImageConfig,
    *,
    image_id: str | None = None,
    repo_tags: Sequence[str] = (),
    repo_digests: Sequence[str] = (),
    parent: str | None = None,
    size: int = 0,
    graph_driver: str = "overlay2",
    graph_driver_data: Mapping[str, str] | None = None,
    last_tag_time: str | None = None,
    api_version: str = "1.44",
) -> dict[str, Any]:
    """One element of ``docker image inspect``: Go's ``ImageInspect`` field for field.

    ``Comment`` falls back to the last history entry's, ``Os`` to ``linux``, times are
    re-formatted as Go prints them. API < 1.44 adds ``VirtualSize`` (= ``Size``);
    API >= 1.45 drops the deprecated ``Container`` and ``ContainerConfig``.
    """
    comment = config.comment
    if not comment and config.history:
        comment = config.history[-1].comment
    out: dict[str, Any] = {
        "Id": image_id or config.image_id,
        "RepoTags": list(repo_tags),
        "RepoDigests": list(repo_digests),
        "Parent": config.parent if parent is None else parent,
        "Comment": comment,
    }
    if config.created:
        out["Created"] = normalize_time(config.created)
    legacy = _api_lt(api_version, "1.45")
    if legacy:
        if config.container:
            out["Container"] = config.container
        out["ContainerConfig"] = (config.container_config or RunConfig()).docker_json()
    out["DockerVersion"] = config.docker_version
    out["Author"] = config.author
    out["Config"] = config.config.docker_json() if config.config is not None else None
    out["Architecture"] = config.architecture
    if config.variant:
        out["Variant"] = config.variant
    out["Os"] = config.os or "linux"
    if config.os_version:
        out["OsVersion"] = config.os_version
    out["Size"] = size
    if _api_lt(api_version, "1.44"):
        out["VirtualSize"] = size
    out["GraphDriver"] = {"Data": dict(graph_driver_data or {}), "Name": graph_driver}
    rootfs: dict[str, Any] = {"Type": config.rootfs_type}
    if config.diff_ids:
        rootfs["Layers"] = list(config.diff_ids)
    out["RootFS"] = rootfs
    out["Metadata"] = {
        "LastTagTime": normalize_time(last_tag_time) if last_tag_time else _ZERO_TIME
    }
    return out


# --- --change: a small Dockerfile reader --------------------------------------------

COMMIT_INSTRUCTIONS = _names(
    "cmd entrypoint env expose healthcheck label onbuild stopsignal user volume workdir"
)
_HEALTHCHECK_FLAGS = frozenset({"interval", "timeout", "start-period", "start-interval", "retries"})
_WS = re.compile(r"[ \t\r\n\v\f]+")


@dataclass
class _Line:
    name: str  # lowercased instruction
    rest: str  # arguments after the flags
    original: str  # the whole (joined) line
    flags: dict[str, str]


def _logical_lines(text: str, escape: str = "\\") -> list[str]:
    """Join continuation lines; drop blank lines and ``#`` comments."""
    out: list[str] = []
    pending: str | None = None
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if pending is not None and (stripped.startswith("#") or not stripped):
            continue  # comments and blank lines inside a continuation are skipped
        if pending is None and (not stripped or stripped.startswith("#")):
            continue
        body = line.rstrip()
        if body.endswith(escape):
            pending = (pending or "") + body[: -len(escape)]
            continue
        out.append((pending or "") + line)
        pending = None
    if pending is not None and pending.strip():
        out.append(pending)
    return out


def _split_line(line: str) -> _Line:
    stripped = line.strip()
    parts = _WS.split(stripped, maxsplit=1)
    name = parts[0].lower()
    rest = parts[1] if len(parts) > 1 else ""
    flags: dict[str, str] = {}
    # BuildKit's extractBuilderFlags: leading --name[=value] words, "--" ends them
    while rest.startswith("--"):
        pieces = _WS.split(rest, maxsplit=1)
        word = pieces[0]
        after = pieces[1] if len(pieces) > 1 else ""
        rest = after
        if word == "--":
            break
        key, eq, value = word[2:].partition("=")
        flags[key] = value if eq else "true"
    return _Line(name, rest, stripped, flags)


def _words(rest: str) -> list[str]:
    """BuildKit's ``parseWords``: split on blanks outside quotes; quotes and escapes kept."""
    words: list[str] = []
    word = ""
    quote = ""
    i = 0
    while i < len(rest):
        ch = rest[i]
        if quote:
            word += ch
            if ch == "\\" and quote == '"' and i + 1 < len(rest):
                word += rest[i + 1]
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in " \t\r\n":
            if word:
                words.append(word)
                word = ""
        else:
            word += ch
            if ch in "'\"":
                quote = ch
            elif ch == "\\" and i + 1 < len(rest):
                word += rest[i + 1]
                i += 1
        i += 1
    if word:
        words.append(word)
    return words


def _name_values(line: _Line, label: str) -> list[tuple[str, str]]:
    rest = line.rest.strip()
    words = _words(rest)
    if not words:
        raise InvalidChange(f"{label} requires at least one argument", label)
    if "=" not in words[0]:
        parts = _WS.split(rest, maxsplit=1)
        if len(parts) < 2 or not parts[1]:
            raise InvalidChange(f"{label} must have two arguments", label)
        return [(parts[0], parts[1])]
    pairs = []
    for w in words:
        if "=" not in w:
            raise InvalidChange(
                f"Syntax error - can't find = in {json.dumps(w)}. Must be of the form: name=value",
                label,
            )
        k, _, v = w.partition("=")
        pairs.append((k, v))
    return pairs


_NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


def _maybe_json(rest: str, label: str) -> tuple[list[str], bool]:
    """(arguments, is_json). Shell form is one argument: the whole text."""
    text = rest.lstrip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise InvalidChange(_NOT_STRING_ARRAY, label)
            return list(value), True
    rest = rest.strip()
    return ([rest] if rest else []), False


# --- shell-style word expansion (the Dockerfile "shell lexer") ---------------------

_NAME_CHARS = re.compile(r"[A-Za-z0-9_]")


class _Lexer:
    """Quote removal, escapes and ``$VAR``/``${VAR...}`` expansion for one word."""

    def __init__(self, env: Mapping[str, str], escape: str = "\\") -> None:
        self.env = env
        self.escape = escape

    def process(self, word: str) -> str:
        words = self._split(word, split=False)
        return words[0] if words else ""

    def process_words(self, word: str) -> list[str]:
        return self._split(word, split=True)

    def _split(self, text: str, split: bool) -> list[str]:
        words: list[str] = []
        cur: list[str] = []
        has = False
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if split and ch in " \t\n":
                if has:
                    words.append("".join(cur))
                    cur, has = [], False
                i += 1
                continue
            has = True
            if ch == self.escape:
                if i + 1 < n:
                    cur.append(text[i + 1])
                    i += 2
                else:
                    i += 1
            elif ch == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise ValueError(
                        "unexpected end of statement while looking for matching single-quote"
                    )
                cur.append(text[i + 1 : end])
                i = end + 1
            elif ch == '"':
                i += 1
                while True:
                    if i >= n:
                        raise ValueError(
                            "unexpected end of statement while looking for matching double-quote"
                        )
                    c = text[i]
                    if c == '"':
                        i += 1
                        break
                    if c == self.escape and i + 1 < n and text[i + 1] in ('"', "$", self.escape):
                        cur.append(text[i + 1])
                        i += 2
                    elif c == "$":
                        value, i = self._dollar(text, i)
                        cur.append(value)
                    else:
                        cur.append(c)
                        i += 1
            elif ch == "$":
                value, i = self._dollar(text, i)
                if split:
                    # an unquoted expansion splits into words (EXPOSE $PORTS)
                    parts = re.split(r"[ \t\n]+", value)
                    cur.append(parts[0])
                    for part in parts[1:]:
                        if "".join(cur):
                            words.append("".join(cur))
                        cur = [part]
                    has = bool("".join(cur))
                else:
                    cur.append(value)
            else:
                cur.append(ch)
                i += 1
        if has:
            words.append("".join(cur))
        return words

    def _dollar(self, text: str, i: int) -> tuple[str, int]:
        """Expand the ``$`` at ``text[i]``; return (value, index after it)."""
        n = len(text)
        if i + 1 >= n:
            return "$", i + 1
        nxt = text[i + 1]
        if nxt == "{":
            j = i + 2
            start = j
            while j < n and _NAME_CHARS.match(text[j]):
                j += 1
            name = text[start:j]
            if not name:
                raise ValueError(f"bad substitution: {text[i:]!r}")
            if j >= n:
                raise ValueError("missing '}'")
            if text[j] == "}":
                return self.env.get(name, ""), j + 1
            colon = text[j] == ":"
            if colon:
                j += 1
            if j >= n or text[j] not in "-+?":
                raise ValueError(f"unsupported modifier in substitution {text[i:]!r}")
            op = text[j]
            j += 1
            # the word runs to the matching }
            depth, k = 1, j
            while k < n:
                if text[k] == "{" and text[k - 1] == "$":
                    depth += 1
                elif text[k] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            if k >= n:
                raise ValueError("missing '}'")
            word = self.process(text[j:k])
            value = self.env.get(name)
            is_set = value is not None and (not colon or value != "")
            if op == "-":
                return (value if is_set and value is not None else word), k + 1
            if op == "+":
                return (word if is_set else ""), k + 1
            if not is_set:
                raise ValueError(f"{name}: {word or 'is not allowed to be unset'}")
            return value or "", k + 1
        if _NAME_CHARS.match(nxt):
            j = i + 1
            while j < n and _NAME_CHARS.match(text[j]):
                j += 1
            return self.env.get(text[i + 1 : j], ""), j
        return "$", i + 1


# --- durations, ports, signals ------------------------------------------------------

_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def parse_go_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` (``1m30s``, ``500ms``, ``2h``) in nanoseconds."""
    orig = text
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(f"time: invalid duration {json.dumps(orig)}")
    total = 0
    pos = 0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None or not m.group(1) or m.group(1) == ".":
            raise ValueError(f"time: invalid duration {json.dumps(orig)}")
        number, unit = m.group(1), m.group(2)
        if not unit:
            raise ValueError(f"time: missing unit in duration {json.dumps(orig)}")
        # the unit runs until the next digit or dot
        if unit not in _DURATION_UNITS:
            raise ValueError(
                f"time: unknown unit {json.dumps(unit)} in duration {json.dumps(orig)}"
            )
        whole, _, frac = number.partition(".")
        scale = _DURATION_UNITS[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // (10 ** len(frac))
        pos = m.end()
    return sign * total


_SIGNALS = (
    _names(
        "ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL PROF PWR QUIT SEGV "
        "STKFLT STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 USR2 VTALRM WINCH XCPU XFSZ RTMIN RTMAX"
    )
    | {f"RTMIN+{n}" for n in range(1, 16)}
    | {f"RTMAX-{n}" for n in range(1, 15)}
)


def validate_signal(text: str) -> str:
    """Docker's ``signal.ParseSignal`` check (``SIGTERM``, ``term``, ``9``)."""
    if text.isdigit():
        if 0 < int(text) <= 64:
            return text
        raise ValueError(f"Invalid signal: {text}")
    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name not in _SIGNALS:
        raise ValueError(f"Invalid signal: {text}")
    return text


def _expand_ports(spec: str) -> list[str]:
    """``80``, ``80/udp``, ``8000-8002/tcp``, ``[ip:][host:]port`` -> ``port/proto`` keys."""
    raw, _, proto = spec.partition("/")
    proto = proto.lower() or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid proto: {proto}")
    container = raw.rsplit(":", 1)[-1]  # [ip:][hostport:]containerport
    m = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", container)
    if m is None:
        raise ValueError(f"invalid containerPort: {container}")
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else start
    if start > 65535 or end > 65535 or end < start:
        raise ValueError(f"invalid containerPort: {container}")
    return [f"{p}/{proto}" for p in range(start, end + 1)]


# --- applying the instructions ------------------------------------------------------


def _update_env(env: list[str] | None, key: str, value: str) -> list[str]:
    out = list(env or [])
    for i, item in enumerate(out):
        if item.partition("=")[0] == key:
            out[i] = f"{key}={value}"
            return out
    out.append(f"{key}={value}")
    return out


def _exactly_one(line: _Line, label: str) -> str:
    value = line.rest.strip()
    if not value:
        raise InvalidChange(f"{label} requires exactly one argument", label)
    return value


def _check_flags(line: _Line, label: str, allowed: frozenset[str]) -> None:
    for name in line.flags:
        if name not in allowed:
            raise InvalidChange(f"Unknown flag: {name}", label)


def _duration_flag(line: _Line, name: str, label: str) -> int:
    value = line.flags.get(name, "")
    if not value:
        return 0
    try:
        d = parse_go_duration(value)
    except ValueError as e:
        raise InvalidChange(str(e), label) from None
    if d == 0:
        return 0
    if d < 1_000_000:
        raise InvalidChange(f'Interval "{name}" cannot be less than 1ms', label)
    return d


def _healthcheck(line: _Line) -> HealthConfig:
    label = "HEALTHCHECK"
    _check_flags(line, label, _HEALTHCHECK_FLAGS)
    parts = _WS.split(line.rest.strip(), maxsplit=1)
    kind = parts[0].upper() if parts and parts[0] else ""
    if not kind:
        raise InvalidChange("HEALTHCHECK requires at least one argument", label)
    if kind == "NONE":
        if len(parts) > 1 or line.flags:
            raise InvalidChange("HEALTHCHECK NONE takes no arguments", label)
        return HealthConfig(test=["NONE"])
    if kind != "CMD":
        raise InvalidChange(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)', label)
    args, is_json = _maybe_json(parts[1] if len(parts) > 1 else "", label)
    if not args:
        raise InvalidChange("Missing command after HEALTHCHECK CMD", label)
    test = ["CMD", *args] if is_json else ["CMD-SHELL", args[0]]
    retries = 0
    if line.flags.get("retries"):
        try:
            retries = int(line.flags["retries"], 10)
        except ValueError:
            raise InvalidChange(
                f'strconv.ParseInt: parsing "{line.flags["retries"]}": invalid syntax', label
            ) from None
        if retries < 0:
            raise InvalidChange(f"--retries cannot be negative ({retries})", label)
    return HealthConfig(
        test=test,
        interval=_duration_flag(line, "interval", label),
        timeout=_duration_flag(line, "timeout", label),
        start_period=_duration_flag(line, "start-period", label),
        start_interval=_duration_flag(line, "start-interval", label),
        retries=retries,
    )


_DEFAULT_SHELL = ["/bin/sh", "-c"]


@overload
def apply_changes(config: RunConfig, changes: Sequence[str]) -> RunConfig: ...
@overload
def apply_changes(config: ImageConfig, changes: Sequence[str]) -> ImageConfig: ...
@overload
def apply_changes(config: None, changes: Sequence[str]) -> RunConfig: ...


def apply_changes(
    config: RunConfig | ImageConfig | None, changes: Sequence[str]
) -> RunConfig | ImageConfig:
    """Apply ``docker commit/import --change`` instructions; the input is not modified.

    Given an :class:`ImageConfig`, returns a copy whose ``config`` is updated (and
    ``raw`` cleared, since the bytes no longer match). Errors are
    :class:`InvalidChange` with Docker's text (``run is not a valid change command``,
    ``ENV must have two arguments``, ``Invalid signal: FOO``, ...).
    """
    if isinstance(config, ImageConfig):
        if not changes:
            return copy.deepcopy(config)
        new = copy.deepcopy(config)
        new.config = apply_changes(config.config, changes)
        new.raw = b""
        return new
    rc = copy.deepcopy(config) if config is not None else RunConfig()
    if not changes:
        return rc
    lines = [_split_line(text) for text in _logical_lines("\n".join(changes))]
    for line in lines:
        if line.name not in COMMIT_INSTRUCTIONS:
            raise InvalidChange(f"{line.name} is not a valid change command", line.name.upper())
    cmd_set = False
    for line in lines:
        label = line.name.upper()
        if line.name != "healthcheck":
            _check_flags(line, label, frozenset())
        lexer = _Lexer(rc.env_map())
        try:
            if line.name in ("env", "label"):
                pairs = _name_values(line, label)
                for raw_key, raw_value in pairs:
                    key, value = lexer.process(raw_key), lexer.process(raw_value)
                    if not key:
                        raise InvalidChange(f"{label} names can not be blank", label)
                    if line.name == "env":
                        rc.env = _update_env(rc.env, key, value)
                    else:
                        rc.labels = dict(rc.labels or {})
                        rc.labels[key] = value
            elif line.name in ("cmd", "entrypoint"):
                args, is_json = _maybe_json(line.rest, label)
                if not args:
                    resolved: list[str] = []
                elif is_json:
                    resolved = args
                else:
                    resolved = list(rc.shell or _DEFAULT_SHELL) + args
                rc.args_escaped = False
                if line.name == "cmd":
                    rc.cmd = resolved
                    if args:
                        cmd_set = True
                else:
                    rc.entrypoint = resolved
                    if not cmd_set:
                        rc.cmd = None
            elif line.name == "expose":
                words = _words(line.rest.strip())
                if not words:
                    raise InvalidChange("EXPOSE requires at least one argument", label)
                ports = rc.exposed_ports = dict(rc.exposed_ports or {})
                for w in words:
                    for spec in lexer.process_words(w):
                        for key in _expand_ports(spec):
                            ports[key] = {}
            elif line.name == "volume":
                args, is_json = _maybe_json(line.rest, label)
                if not is_json:
                    args = _WS.split(line.rest.strip()) if line.rest.strip() else []
                if not args:
                    raise InvalidChange("VOLUME requires at least one argument", label)
                vols = dict(rc.volumes or {})
                for v in args:
                    v = lexer.process(v).strip()
                    if not v:
                        raise InvalidChange("VOLUME specified can not be an empty string", label)
                    vols[v] = {}
                rc.volumes = vols
            elif line.name == "user":
                rc.user = lexer.process(_exactly_one(line, label))
            elif line.name == "workdir":
                path = lexer.process(_exactly_one(line, label))
                if not path:
                    raise InvalidChange("cannot normalize nothing", label)
                if not path.startswith("/"):
                    path = posixpath.normpath(posixpath.join("/", rc.working_dir, path))
                rc.working_dir = path
            elif line.name == "stopsignal":
                sig = lexer.process(_exactly_one(line, label))
                rc.stop_signal = validate_signal(sig)
            elif line.name == "onbuild":
                expr = re.sub(r"(?i)^\s*ONBUILD\s*", "", line.original)
                trigger = _WS.split(expr.strip(), maxsplit=1)[0].upper() if expr.strip() else ""
                if not trigger:
                    raise InvalidChange("ONBUILD requires at least one argument", label)
                if trigger == "ONBUILD":
                    raise InvalidChange(
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", label
                    )
                if trigger in ("FROM", "MAINTAINER"):
                    raise InvalidChange(f"{trigger} isn't allowed as an ONBUILD trigger", label)
                rc.on_build = [*(rc.on_build or []), expr]
            elif line.name == "healthcheck":
                rc.healthcheck = _healthcheck(line)
        except InvalidChange:
            raise
        except ValueError as e:
            raise InvalidChange(str(e), label) from None
    return rc


def with_changes(config: ImageConfig, changes: Sequence[str]) -> ImageConfig:
    """:func:`apply_changes` on a whole config, sealed with fresh canonical bytes."""
    return apply_changes(config, changes).sealed()
