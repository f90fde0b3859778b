"""Exec endpoints: ``POST /containers/{id}/exec``, ``/exec/{id}/start|resize|json``."""

from __future__ import annotations

from .transport import Hijacked, Transport, quote_name

TYPE_CHECKING = False  # typing and collections.abc cost CLI start-up
if TYPE_CHECKING:
    from typing import Any


class ExecAPI:
    transport: Transport

    def exec_create(self, container: str, config: dict[str, Any]) -> dict[str, Any]:
        return self.transport.post(f"/containers/{quote_name(container)}/exec", body=config)

    def exec_start(self, exec_id: str, *, tty: bool = False, detach: bool = False,
                   console_size: list[int] | None = None) -> Hijacked | None:
        """Detached: 200 and nothing more. Attached: the hijacked stream (its framing
        follows the start body's ``Tty``)."""
        body: dict[str, Any] = {"Detach": detach, "Tty": tty}
        if console_size:
            body["ConsoleSize"] = console_size
        path = f"/exec/{quote_name(exec_id)}/start"
        if detach:
            self.transport.post(path, body=body)
            return None
        return self.transport.hijack(path, body=body, tty=tty)

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self.transport.post(f"/exec/{quote_name(exec_id)}/resize", {"h": height, "w": width})

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return self.transport.get(f"/exec/{quote_name(exec_id)}/json")
