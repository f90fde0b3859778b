"""Token scopes: ``type[(class)]:name:action[,action]`` (distribution docs/spec/auth/scope.md).

The name may itself hold a colon (``repository:localhost:5000/app:pull``), so the type is
what comes before the first colon and the actions what comes after the last one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_TYPE = re.compile(r"^[a-z0-9]+(\([a-z0-9]+\))?$")
_ACTION = re.compile(r"[a-z0-9_-]+|\*")


@dataclass(frozen=True, order=True)
class Scope:
    """One resource and the actions wanted on it; ``actions`` sorted and unique."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", tuple(sorted(set(self.actions))))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"

    @classmethod
    def parse(cls, text: str) -> Scope:
        kind, sep, rest = text.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not (sep and sep2 and name and _TYPE.match(kind)):
            raise ValueError(f"invalid scope {text!r}")
        acts = tuple(a for a in actions.split(",") if a)
        if not all(_ACTION.fullmatch(a) for a in acts):
            raise ValueError(f"invalid scope {text!r}")
        return cls(kind, name, acts)

    def covers(self, other: Scope) -> bool:
        return (self.type, self.name) == (other.type, other.name) and (
            "*" in self.actions or set(other.actions) <= set(self.actions)
        )


def repository(name: str, *actions: str) -> Scope:
    """``repository:<name>:<actions>``."""
    return Scope("repository", name, actions)


def parse_scopes(text: str) -> list[Scope]:
    """Space-separated scopes, as in a challenge's ``scope`` parameter; bad ones skipped."""
    out = []
    for part in text.split():
        try:
            out.append(Scope.parse(part))
        except ValueError:
            continue
    return out


def merge(scopes: Iterable[Scope]) -> tuple[Scope, ...]:
    """One scope per resource holding the union of actions, sorted (a stable cache key)."""
    actions: dict[tuple[str, str], set[str]] = {}
    for s in scopes:
        actions.setdefault((s.type, s.name), set()).update(s.actions)
    return tuple(sorted(Scope(t, n, tuple(a)) for (t, n), a in actions.items()))
