"""A deterministic, fd-relative walk of a directory tree (for writing tars).

Entries come in pre-order, each directory's children sorted by their bytes (as Go's
``filepath.Walk`` orders them), a directory right before its own children. Every
lookup is relative to the parent's fd and nothing is followed: a container that
swaps a directory for a symlink to the host while we walk (CVE-2018-15664) gets its
symlink archived as a symlink. The walk is iterative, so depth is bounded by fds,
not by Python's recursion limit.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from .resolve import O_READ_DIR

_GONE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP})


@dataclass
class Node:
    parts: tuple[str, ...]  # path from the root
    parent_fd: int  # open while the node is being looked at
    name: str
    st: os.stat_result
    fd: int | None = None  # a readable fd for directories, else None

    @property
    def arcname(self) -> str:
        return "/".join(self.parts)


def sorted_names(dir_fd: int) -> list[str]:
    with os.scandir(dir_fd) as it:
        return sorted((e.name for e in it), key=os.fsencode)


def walk(root_fd: int) -> Iterator[Node]:
    """Every entry under the directory ``root_fd`` (not the directory itself)."""
    top = os.open(".", O_READ_DIR, dir_fd=root_fd)
    stack: list[tuple[int, tuple[str, ...], Iterator[str]]] = [
        (top, (), iter(sorted_names(top)))
    ]
    try:
        while stack:
            fd, parts, names = stack[-1]
            name = next(names, None)
            if name is None:
                os.close(fd)
                stack.pop()
                continue
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    yield Node((*parts, name), fd, name, st)
                    continue
                child = os.open(name, O_READ_DIR, dir_fd=fd)
            except OSError as e:
                if e.errno in _GONE:
                    continue  # removed or replaced while we walked
                raise
            try:
                node = Node((*parts, name), fd, name, os.fstat(child), child)
                yield node
                children = iter(sorted_names(child))
            except BaseException:
                os.close(child)
                raise
            stack.append((child, node.parts, children))
    finally:
        for fd, _, _ in stack:
            os.close(fd)
