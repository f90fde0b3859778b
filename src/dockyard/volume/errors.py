"""Volume errors carrying Docker's message text and the HTTP status the API maps them to
(the engine turns them into its own errors: volume/ imports nothing from engine/)."""

from __future__ import annotations


class VolumeError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(VolumeError):
    status = 400


class NotFound(VolumeError):
    status = 404


class Conflict(VolumeError):
    status = 409
