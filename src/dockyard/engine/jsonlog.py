"""Docker's json-file log format: one JSON object per line, rotated by size.

    {"log":"hi\\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}

Written by the shim, read by the engine (logs, follow); files are ``<path>``,
``<path>.1`` ... ``<path>.<max_file-1>``, the newest first.
"""

from __future__ import annotations

import json
import os
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
        buf = self.partial.pop(stream, b"") + data
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line, buf = buf[: nl + 1], buf[nl + 1 :]
            while len(line) > MAX_LINE:
                self._record(stream, line[:MAX_LINE])
                line = line[MAX_LINE:]
            self._record(stream, line)
        while len(buf) >= MAX_LINE:
            self._record(stream, buf[:MAX_LINE])
            buf = buf[MAX_LINE:]
        if buf:
            self.partial[stream] = buf

    def flush_partial(self) -> None:
        for stream, buf in list(self.partial.items()):
            self._record(stream, buf)
        self.partial.clear()

    def _record(self, stream: str, data: bytes) -> None:
        entry = json.dumps({"log": data.decode("utf-8", "replace"), "stream": stream,
                            "time": rfc3339nano()}, ensure_ascii=False)
        raw = entry.encode() + b"\n"
        if self.max_size > 0 and self.size + len(raw) > self.max_size and self.size > 0:
            self._rotate()
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
