"""``GET /volumes`` and ``POST /volumes/prune`` filters (pure)."""

from __future__ import annotations

import re
from typing import Any

from .errors import InvalidParameter

LIST_KEYS = frozenset({"dangling", "driver", "label", "name"})
PRUNE_KEYS = frozenset({"label", "label!", "all"})
_TRUE = ("true", "1")
_FALSE = ("false", "0")


def check(filters: dict[str, list[str]], allowed: frozenset[str]) -> None:
    for key, values in filters.items():
        if key not in allowed:
            raise InvalidParameter(f"invalid filter '{key}'")
        if key in ("dangling", "all"):
            for v in values:
                if v.lower() not in _TRUE + _FALSE:
                    raise InvalidParameter(f"invalid filter '{key}={v}'")


def _labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _labels_match_none(labels: dict[str, str], unwanted: list[str]) -> bool:
    for item in unwanted:
        key, sep, value = item.partition("=")
        if key in labels and (not sep or labels[key] == value):
            return False
    return True


def matches(volume: dict[str, Any], filters: dict[str, list[str]], in_use: bool) -> bool:
    """``volume``: the Volume object; ``in_use``: referenced by any container."""
    labels = volume.get("Labels") or {}
    for key, values in filters.items():
        if not values:
            continue
        if key == "name" and not any(re.search(v, volume["Name"]) or v == volume["Name"]
                                     for v in values):
            return False
        if key == "driver" and volume.get("Driver") not in values:
            return False
        if key == "label" and not _labels_match(labels, values):
            return False
        if key == "label!" and not _labels_match_none(labels, values):
            return False
        if key == "dangling":
            want = values[-1].lower() in _TRUE
            if want == in_use:
                return False
    return True


def prune_all(filters: dict[str, list[str]]) -> bool:
    return any(v.lower() in _TRUE for v in filters.get("all", []))
