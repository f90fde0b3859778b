"""The in-process API that an engine (dockyardd, its shim) calls instead of the CLI.

The caller must be single-threaded while it calls these: they fork, and unshare
and setns refuse multi-threaded callers.
"""

from __future__ import annotations

import os

from .container import Container, list_containers
from .launch import CreateOptions, create
from .procutil import exit_status, set_subreaper
from .state import ContainerState


def run_container(root: str, container_id: str, bundle: str,
                  options: CreateOptions | None = None) -> int:
    """create + start + wait + delete; returns the exit status (128+N for signal N).

    The caller becomes a subreaper, so the container's init (a grandchild) is
    reparented to it and can be waited for.
    """
    set_subreaper()
    state = create(root, container_id, bundle, options or CreateOptions())
    container = Container(root, container_id)
    try:
        container.start()
        _, status = os.waitpid(state.pid, 0)
    finally:
        container.delete(force=True)
    return exit_status(status)


__all__ = [
    "Container",
    "ContainerState",
    "CreateOptions",
    "create",
    "list_containers",
    "run_container",
]
