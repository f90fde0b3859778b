"""Progress of pulls and pushes as events, and their Docker JSON progress messages.

The engine streams these to clients as Docker does (`{"status": "Downloading",
"progressDetail": {"current": .., "total": ..}, "id": "a3ed95caeb02"}`), and the CLI
draws bars from them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    status: str  # "Pulling fs layer", "Downloading", "Pull complete", "Digest: ...", ...
    id: str = ""  # a layer's short digest (12 hex), or a tag for whole-image lines
    current: int | None = None
    total: int | None = None

    def docker_json(self) -> dict[str, object]:
        message: dict[str, object] = {"status": self.status}
        if self.id:
            message["id"] = self.id
        if self.current is not None:
            detail: dict[str, int] = {"current": self.current}
            if self.total:
                detail["total"] = self.total
            message["progressDetail"] = detail
        return message


Progress = Callable[[ProgressEvent], None]


def short_id(digest: str) -> str:
    """Docker shows a layer by the first 12 hex digits of its digest."""
    return digest.split(":", 1)[-1][:12]


def ignore(event: ProgressEvent) -> None:
    """A Progress that drops everything."""
