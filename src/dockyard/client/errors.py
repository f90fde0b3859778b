"""Errors the client raises: the daemon said no, or there is no daemon to ask."""

from __future__ import annotations


class APIError(Exception):
    """A Docker error body: ``{"message": ...}`` with the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    def __str__(self) -> str:
        return self.message


class StreamError(APIError):
    """An error message in the middle of a JSON progress stream (``errorDetail``)."""


class DaemonUnavailable(Exception):
    """Nothing answers on the daemon's socket."""

    def __init__(self, host: str, reason: str = "") -> None:
        super().__init__(host)
        self.host = host
        self.reason = reason

    def __str__(self) -> str:
        return (f"Cannot connect to the dockyard daemon at {self.host}. "
                "Is dockyardd running?")
