"""Docker's json-file log format: one JSON object per line, rotated by size.

    {"log":"hi\\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}

Written by the shim, read by the engine (logs, follow); files are ``<path>``,
``<path>.1`` ... ``<path>.<max_file-1>``, the newest first.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from typing import Any

MAX_LINE = 16 * 1024  # Docker splits longer lines into partial messages


def rfc3339nano(ns: int | None = None) -> str:
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_time_ns(text: str) -> int:
    """RFC 3339 (any fraction, Z or offset) -> ns since the epoch."""
    import calendar
    import re

    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if not m:
        raise ValueError(f"bad timestamp {text!r}")
    secs = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    frac = int((m.group(2) or "0")[:9].ljust(9, "0"))
    if m.group(3) != "Z":
        sign = 1 if m.group(3)[0] == "+" else -1
        hh, mm = m.group(3)[1:].split(":")
        secs -= sign * (int(hh) * 3600 + int(mm) * 60)
    return secs * 10**9 + frac


# JSON (ensure_ascii=False) escapes only these bytes of a record's text; bytes.translate
# deleting every other byte finds them far faster than a regular expression.
_ESCAPED = bytes(range(0x0A)) + bytes(range(0x0B, 0x20)) + b'"\\'
_NOT_ESCAPED = bytes(b for b in range(256) if b not in _ESCAPED)


def _record(stream: str, data: bytes, stamp: str) -> bytes:
    return (b'{"log":' + json.dumps(data.decode("utf-8", "replace"),
                                    ensure_ascii=False).encode()
            + f',"stream":"{stream}","time":"{stamp}"}}\n'.encode())


def _has_long_line(lines: bytes) -> bool:
    """Whether a line of `lines` (which ends in a newline) is longer than MAX_LINE."""
    if len(lines) <= MAX_LINE:
        return False
    start = 0
    while start < len(lines):
        nl = lines.find(b"\n", start, start + MAX_LINE)
        if nl < 0:
            return True
        start = nl + 1
    return False


def encode_lines(stream: str, lines: bytes, stamp: str) -> bytes:
    """The json-file records of `lines`: complete lines (the last ends in a newline),
    none longer than MAX_LINE, all read at `stamp`.

    Docker's format, one record per line. The common case (no byte that JSON must
    escape, valid UTF-8) is done with bytes operations over the whole chunk; the
    rest one line at a time."""
    body = lines[:-1]
    if not body.translate(None, _NOT_ESCAPED):
        plain = body.isascii()
        if not plain:
            try:
                body.decode("utf-8")
                plain = True
            except UnicodeDecodeError:
                pass
        if plain:
            tail = f'\\n","stream":"{stream}","time":"{stamp}"}}\n'.encode()
            return b'{"log":"' + body.replace(b"\n", tail + b'{"log":"') + tail
    return b"".join([_record(stream, line + b"\n", stamp) for line in body.split(b"\n")])


# The end of one plain record and the start of the next (or the end of the chunk).
_PLAIN_SEP = {stream: re.compile(rb'\\n","stream":"' + stream.encode()
                                 + rb'","time":"[^"]*"\}\n(?:\{"log":"|\Z)')
              for stream in ("stdout", "stderr")}


def _decode_plain(blob: bytes) -> tuple[str, bytes] | None:
    """(stream, output) of records all of one stream whose text has no escape but its
    line end (what encode_lines writes for plain text); None for anything else."""
    if not blob.startswith(b'{"log":"'):
        return None
    at = blob.find(b'","stream":"')
    stream = blob[at + 12:at + 18].decode("ascii", "replace")
    sep = _PLAIN_SEP.get(stream)
    if sep is None:
        return None
    # One C-level pass joins the texts; every record that is not of this plain shape
    # leaves a quote or a backslash behind, and then the records are decoded one by one.
    text = sep.sub(b"\n", blob)[8:]
    if b'"' in text or b"\\" in text:
        return None
    return stream, text


def decode_records(blob: bytes, streams: set[str] | frozenset[str]
                   ) -> list[tuple[str, bytes]]:
    """The output held by `blob`, complete json-file records: runs of (stream, bytes)
    in order, only of `streams`. Records of one stream with no escapes but their line
    end (what encode_lines writes for plain text) are decoded in bulk."""
    plain = _decode_plain(blob)
    if plain is not None:
        return [plain] if plain[0] in streams and plain[1] else []
    runs: list[tuple[str, list[str]]] = []
    for line in blob.split(b"\n"):
        try:
            entry = json.loads(line)
            stream = entry["stream"]
            text = str(entry.get("log", ""))
        except (ValueError, KeyError, TypeError):
            continue
        if stream not in streams:
            continue
        if runs and runs[-1][0] == stream:
            runs[-1][1].append(text)
        else:
            runs.append((stream, [text]))
    return [(stream, "".join(texts).encode()) for stream, texts in runs]


class JSONFileWriter:
    def __init__(self, path: str, max_size: int = -1, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self.file = open(path, "ab", buffering=0)  # noqa: SIM115
        self.size = self.file.tell()
        self.partial: dict[str, bytes] = {}

    def write(self, stream: str, data: bytes) -> None:
        """Output of `stream`; complete lines are logged, a partial one is held."""
        buf = self.partial.pop(stream, b"") + data if stream in self.partial else data
        last = buf.rfind(b"\n")
        if last >= 0:
            lines, buf = buf[: last + 1], buf[last + 1 :]
            stamp = rfc3339nano()
            if not _has_long_line(lines):
                self._emit(encode_lines(stream, lines, stamp))
            else:
                for line in lines[:-1].split(b"\n"):
                    line += b"\n"
                    while len(line) > MAX_LINE:
                        self._emit(_record(stream, line[:MAX_LINE], stamp))
                        line = line[MAX_LINE:]
                    self._emit(_record(stream, line, stamp))
        while len(buf) >= MAX_LINE:
            self._emit(_record(stream, buf[:MAX_LINE], rfc3339nano()))
            buf = buf[MAX_LINE:]
        if buf:
            self.partial[stream] = buf

    def flush_partial(self) -> None:
        for stream, buf in list(self.partial.items()):
            self._emit(_record(stream, buf, rfc3339nano()))
        self.partial.clear()

    def _emit(self, raw: bytes) -> None:
        if self.max_size > 0 and self.size + len(raw) > self.max_size:
            # Rotation is decided per record, as Docker's.
            for record in raw.splitlines(keepends=True):
                if self.size + len(record) > self.max_size and self.size > 0:
                    self._rotate()
                self.file.write(record)
                self.size += len(record)
            return
        self.file.write(raw)
        self.size += len(raw)

    def _rotate(self) -> None:
        self.file.close()
        if self.max_file > 1:
            for n in range(self.max_file - 1, 0, -1):
                src = self.path if n == 1 else f"{self.path}.{n - 1}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{n}")
            self.file = open(self.path, "wb", buffering=0)  # noqa: SIM115
        else:
            self.file = open(self.path, "wb", buffering=0)  # noqa: SIM115
        self.size = 0

    def close(self) -> None:
        self.flush_partial()
        self.file.close()


def log_files(path: str) -> list[str]:
    """The log files, oldest first."""
    files = []
    n = 1
    while os.path.exists(f"{path}.{n}"):
        files.append(f"{path}.{n}")
        n += 1
    files.reverse()
    if os.path.exists(path):
        files.append(path)
    return files


def read_entries(path: str) -> Iterator[dict[str, Any]]:
    for name in log_files(path):
        try:
            with open(name, "rb") as file:
                for line in file:
                    if not line.endswith(b"\n"):
                        break  # being written
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue
        except FileNotFoundError:
            continue
