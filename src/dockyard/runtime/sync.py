"""Messages between the runtime's stages over a SOCK_SEQPACKET socketpair.

Each datagram is one JSON object with a "type". A stage that fails sends
{"type": "error", "message": ...} and exits, so every failure reaches the
parent as one line. End of file means the peer died or exec'd (the sockets are
close-on-exec).
"""

from __future__ import annotations

import json
import socket
from typing import Any

from .errors import ContainerInitError

# parent <- intermediate
USERNS_READY = "userns-ready"  # write my uid/gid maps
CHILD_PID = "child-pid"  # the init's (or exec'd process's) pid in the host namespace
# parent <- init
RUN_HOOKS = "run-hooks"  # mounts done: apply cgroup resources, run prestart/createRuntime
READY = "ready"  # everything applied; waiting on exec.fifo
ERROR = "error"
# parent -> child
GO = "go"  # to the intermediate: you are in the cgroups; to the init: pid received
MAPPED = "mapped"
HOOKS_DONE = "hooks-done"


def pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, kind: str, **data: Any) -> None:
    sock.send(json.dumps({"type": kind, **data}).encode())


def recv(sock: socket.socket) -> dict[str, Any]:
    raw = sock.recv(65536)
    if not raw:
        return {"type": "eof"}
    return json.loads(raw)


def expect(sock: socket.socket, kind: str) -> dict[str, Any]:
    """Wait for `kind`; an error message or a hang-up becomes ContainerInitError."""
    message = recv(sock)
    if message["type"] == ERROR:
        raise ContainerInitError(message["message"])
    if message["type"] == "eof":
        raise ContainerInitError(f"container init exited before {kind}")
    if message["type"] != kind:
        raise ContainerInitError(f"expected {kind} from container init, got {message['type']}")
    return message
