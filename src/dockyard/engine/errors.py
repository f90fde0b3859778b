"""Engine errors, each with the HTTP status the Engine API answers with."""

from __future__ import annotations


class EngineError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(EngineError):
    status = 400


class NotFound(EngineError):
    status = 404


class NoSuchContainer(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such container: {name}")


class Conflict(EngineError):
    status = 409


class NotModified(EngineError):
    """304: start of a running container, stop of a stopped one."""

    status = 304
