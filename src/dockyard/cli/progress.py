"""docker's jsonmessage display: progress streams from pull, push, load and import.

On a terminal each layer (message ``id``) keeps its own line, redrawn in place with a
``[====>   ]  1.2MB/4.5MB`` bar; elsewhere progress updates are dropped and every other
message is one plain line (``abc123: Pull complete``). A message with ``errorDetail`` (or
``error``) ends the stream with that error; ``aux`` messages go to a callback.
"""

from __future__ import annotations

from dockyard.client.errors import StreamError

from .format import human_size

TYPE_CHECKING = False  # typing costs every command's start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, TextIO


def progress_string(detail: dict[str, Any] | None, width: int = 200) -> str:
    """jsonmessage.JSONProgress.String."""
    if not detail:
        return ""
    current = int(detail.get("current") or 0)
    total = int(detail.get("total") or 0)
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = ""
    if width > 110:
        bar = "[" + "=" * percentage + ">" + " " * max(50 - percentage, 0) + "] "
    numbers = f"{human_size(current):>8}/{human_size(total)}"
    if current > total:
        numbers = ""
    return bar + numbers


def _line(msg: dict[str, Any], terminal: bool, width: int) -> str | None:
    """The text jsonmessage.Display prints for one message (None: nothing)."""
    detail = msg.get("progressDetail")
    has_progress = detail is not None
    bar = progress_string(detail, width) if has_progress else ""
    if not terminal and has_progress and bar:
        return None
    text = ""
    if msg.get("id"):
        text += f"{msg['id']}: "
    if msg.get("from"):
        text += f"(from {msg['from']}) "
    status = msg.get("status", "")
    if has_progress and terminal:
        text += f"{status} {bar}"
    elif msg.get("progress"):
        text += f"{status} {msg['progress']}"
    elif msg.get("stream"):
        text += msg["stream"]
    else:
        text += status + ("" if terminal and has_progress else "\n")
    return text


def display(stream: Iterable[dict[str, Any]], out: TextIO, terminal: bool = False,
            aux: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Write a progress stream as the docker CLI does; raises StreamError on an error."""
    import shutil  # not at import: it costs 2 ms of start-up

    width = shutil.get_terminal_size((80, 24)).columns if terminal else 200
    ids: dict[str, int] = {}
    for msg in stream:
        if not isinstance(msg, dict):
            continue
        if msg.get("errorDetail") or msg.get("error"):
            detail = msg.get("errorDetail") or {}
            raise StreamError(int(detail.get("code") or 1),
                              detail.get("message") or msg.get("error") or "unknown error")
        if msg.get("aux") is not None:
            if aux is not None:
                aux(msg["aux"])
            continue
        diff = 0
        msg_id = msg.get("id") or ""
        if msg_id and ("progressDetail" in msg or msg.get("progress")):
            line = ids.get(msg_id)
            if line is None:
                line = ids[msg_id] = len(ids)
                if terminal:
                    out.write("\n")
            diff = len(ids) - line
            if terminal and diff > 0:
                out.write(f"\x1b[{diff}A")
        else:
            ids = {}
        text = _line(msg, terminal, width)
        if text is not None:
            if terminal and "progressDetail" in msg and not msg.get("stream"):
                out.write("\x1b[2K\r" + text + "\r")
            else:
                out.write(text)
        if msg_id and terminal and diff > 0:
            out.write(f"\x1b[{diff}B")
        out.flush()
