"""The CLI's detach keys (``--detach-keys``, else config.json's ``detachKeys``) and the
daemon's wait until a hijacked response's header block has been read (api/util.py)."""

from __future__ import annotations

import asyncio
import io
import json
import socket

import pytest

from dockyard.api.util import _unread, header_read
from dockyard.cli.context import Context

pytestmark = pytest.mark.unit


def _ctx(tmp_path) -> Context:
    return Context(host=None, config_dir=str(tmp_path), debug=False, stdout=io.StringIO(),
                   stderr=io.StringIO(), stdin=io.StringIO())


def test_detach_keys_flag_then_config_file(tmp_path):
    ctx = _ctx(tmp_path)
    assert ctx.detach_keys(None) is None  # no config.json: the default applies
    (tmp_path / "config.json").write_text(json.dumps({"detachKeys": "ctrl-e,e"}))
    assert ctx.detach_keys(None) == "ctrl-e,e"
    assert ctx.detach_keys("") == "ctrl-e,e"
    assert ctx.detach_keys("ctrl-a,x") == "ctrl-a,x"
    (tmp_path / "config.json").write_text(json.dumps({"detachKeys": 5}))
    assert ctx.detach_keys(None) is None
    (tmp_path / "config.json").write_text("{not json")
    assert ctx.detach_keys(None) is None
    (tmp_path / "config.json").write_text("[]")
    assert ctx.detach_keys(None) is None


def test_unread_counts_what_the_peer_has_not_read():
    a, b = socket.socketpair()
    try:
        assert _unread(a) == 0
        a.sendall(b"HTTP/1.1 101 UPGRADED\r\n\r\n")
        assert _unread(a) > 0
        b.recv(4)
        assert _unread(a) > 0  # a partial read keeps the segment queued
        b.recv(1024)
        assert _unread(a) == 0
    finally:
        a.close()
        b.close()
    assert _unread(None) is None
    assert _unread(object()) is None


class _Transport:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str):
        return self.sock if name == "socket" else None

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False


def test_header_read_returns_once_the_client_read_the_header():
    async def go() -> None:
        a, b = socket.socketpair()
        try:
            a.sendall(b"HTTP/1.1 101 UPGRADED\r\n\r\n")
            waiting = asyncio.ensure_future(header_read(_Transport(a)))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            b.recv(1024)
            await asyncio.wait_for(waiting, 1)
        finally:
            a.close()
            b.close()

    asyncio.run(go())
