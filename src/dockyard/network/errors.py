"""Network errors carrying Docker's message text and the HTTP status the API maps them to."""

from __future__ import annotations


class NetworkError(Exception):
    status = 400


class InvalidParameter(NetworkError):
    status = 400


class Forbidden(NetworkError):
    status = 403


class NotFound(NetworkError):
    status = 404


class Conflict(NetworkError):
    status = 409
