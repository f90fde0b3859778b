"""Engine API client: a small HTTP/1.1 client over the daemon's socket, one module per
resource (docker-py's ``api/`` layout), thin methods that map one-to-one onto endpoints.

    transport   hosts, requests, JSON, error bodies, streams, hijacked connections
    jsonio      json.loads/dumps through the C scanner and encoder (no ``import json``)
    system      ping, version, info, events, df, auth
    images      list, pull, import, push, tag, remove, inspect, history, save, load, prune
    containers  create ... prune, logs, attach, archive
    exec        create, start, resize, inspect
    networks    list, inspect, create, remove, connect, disconnect, prune
    volumes     list, create, inspect, remove, prune
"""

from __future__ import annotations

from .containers import ContainersAPI
from .errors import APIError, DaemonUnavailable, StreamError
from .exec import ExecAPI
from .images import ImagesAPI
from .networks import NetworksAPI
from .system import SystemAPI
from .transport import API_VERSION, DEFAULT_HOST, Transport, default_host, parse_host
from .volumes import VolumesAPI


class Client(SystemAPI, ImagesAPI, ContainersAPI, ExecAPI, NetworksAPI,
             VolumesAPI):
    def __init__(self, host: str | None = None, version: str = API_VERSION,
                 timeout: float | None = None) -> None:
        self.transport = Transport(host, version=version, timeout=timeout)

    @property
    def host(self) -> str:
        return self.transport.host


__all__ = ["API_VERSION", "DEFAULT_HOST", "APIError", "Client", "DaemonUnavailable",
           "StreamError", "Transport", "default_host", "parse_host"]
