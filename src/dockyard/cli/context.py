"""What every command gets (:class:`Context`) and the errors a command raises."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing and json (which imports re) cost every command's start-up
if TYPE_CHECKING:
    from typing import Any, TextIO


class UsageError(Exception):
    """Wrong number of arguments: docker's message, exit 1."""


class CLIError(Exception):
    """A one-line error for the user; ``status`` is the exit code."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class Context:
    """What a command gets: global options, streams and (lazily) a client."""

    def __init__(self, host: str | None, config_dir: str, debug: bool, stdout: TextIO,
                 stderr: TextIO, stdin: Any, client: Any = None) -> None:
        self.host = host
        self.config_dir = config_dir
        self.debug = debug
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from dockyard.client import Client
            self._client = Client(self.host)
        return self._client

    @property
    def config_file(self) -> str:
        return os.path.join(self.config_dir, "config.json")

    def detach_keys(self, flag: str | None) -> str | None:
        """``--detach-keys``, else ``detachKeys`` from the client's config.json (docker's
        order); None means the default (ctrl-p,ctrl-q)."""
        if flag:
            return flag
        import json
        try:
            with open(self.config_file) as f:
                value = json.load(f).get("detachKeys")
        except (OSError, ValueError, AttributeError):
            return None
        return value if isinstance(value, str) and value else None
