"""`docker commit/import --change`: Dockerfile instructions applied to an image config."""

from __future__ import annotations

import copy
import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import overload

from dockyard.image.config import (
    HealthConfig,
    ImageConfig,
    RunConfig,
    _names,
)


class InvalidChange(ValueError):
    """A ``--change`` instruction that Docker would refuse; ``instruction`` names it."""

    def __init__(self, message: str, instruction: str = "") -> None:
        self.instruction = instruction
        super().__init__(message)


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

