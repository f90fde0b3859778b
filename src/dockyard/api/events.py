"""The daemon's event bus: ``GET /events`` reads it; the engine, image and network code
publish to it (``bus.publish("container", "start", cid, {"name": "web", "image": ..})``).

``publish`` may be called from any thread. The bus keeps the last ``history`` events
for ``since``; subscribers get an asyncio queue each.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

TYPES = ("builder", "config", "container", "daemon", "image", "network", "node", "plugin",
         "secret", "service", "volume")


def make_event(type_: str, action: str, actor_id: str,
               attributes: Mapping[str, str] | None = None, *, scope: str = "local",
               now_ns: int | None = None) -> dict[str, Any]:
    """Docker's ``events.Message``: with the legacy ``status``/``id``/``from`` keys for
    containers and images, as moby still sends them."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    attrs = {str(k): str(v) for k, v in (attributes or {}).items()}
    event: dict[str, Any] = {
        "Type": type_, "Action": action, "Actor": {"ID": actor_id, "Attributes": attrs},
        "scope": scope, "time": now_ns // 1_000_000_000, "timeNano": now_ns,
    }
    if type_ in ("container", "image"):
        event["status"] = action
        event["id"] = actor_id
        if type_ == "container" and "image" in attrs:
            event["from"] = attrs["image"]
    return event


class EventBus:
    def __init__(self, history: int = 1024) -> None:
        self._lock = threading.Lock()
        self._recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=history)
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = []

    def publish(self, type_: str, action: str, actor_id: str,
                attributes: Mapping[str, str] | None = None, *, scope: str = "local"
                ) -> dict[str, Any]:
        return self.publish_event(make_event(type_, action, actor_id, attributes, scope=scope))

    def publish_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """A ready-made Docker event (``engine.subscribe(bus.publish_event)``); it needs
        ``Type``, ``Action``, ``Actor`` and ``timeNano``."""
        with self._lock:
            self._recent.append(event)
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                queue.put_nowait(event)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(queue.put_nowait, event)
        return event

    def subscribe(self) -> tuple[list[dict[str, Any]], asyncio.Queue]:
        """The buffered past events and a queue of every later one (call in the loop)."""
        queue: asyncio.Queue = asyncio.Queue()
        with self._lock:
            past = list(self._recent)
            self._subscribers.append((asyncio.get_running_loop(), queue))
        return past, queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s[1] is not queue]


class EventFilter:
    """moby's event filters: type, event (action), container, image, network, volume,
    daemon, label (``key`` or ``key=value``), scope. Values of one key are OR'ed, keys
    are AND'ed."""

    KEYS = frozenset({"type", "event", "container", "image", "network", "volume", "daemon",
                      "label", "scope", "plugin", "service", "node", "secret", "config"})

    def __init__(self, filters: Mapping[str, Iterable[str]]) -> None:
        self.filters = {k: set(v) for k, v in filters.items()}

    def __call__(self, event: Mapping[str, Any]) -> bool:
        actor = event.get("Actor", {})
        attrs = actor.get("Attributes", {})
        ident = actor.get("ID", "")
        for key, wanted in self.filters.items():
            if not wanted:
                continue
            if key == "type":
                ok = event.get("Type") in wanted
            elif key == "event":
                action = event.get("Action", "")
                ok = action in wanted or action.split(":", 1)[0] in wanted
            elif key == "label":
                ok = any(_label_match(attrs, w) for w in wanted)
            elif key == "scope":
                ok = event.get("scope") in wanted
            elif key == "image" and event.get("Type") == "container":
                ok = attrs.get("image") in wanted or ident in wanted
            else:
                ok = event.get("Type") == key and (
                    ident in wanted or attrs.get("name") in wanted
                    or any(ident.startswith(w) for w in wanted if len(w) >= 4))
            if not ok:
                return False
        return True


def _label_match(attrs: Mapping[str, str], wanted: str) -> bool:
    key, eq, value = wanted.partition("=")
    if key not in attrs:
        return False
    return not eq or attrs[key] == value
