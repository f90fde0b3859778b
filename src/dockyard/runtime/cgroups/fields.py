"""Typed, validated reads of the OCI ``linux.resources`` object.

Every error names the field it is about, so that a bad config.json is easy to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import CgroupError


class Fields:
    """One JSON object of the resources tree, read field by field."""

    def __init__(self, obj: object, name: str) -> None:
        if obj is None:
            obj = {}
        if not isinstance(obj, Mapping):
            raise CgroupError(f"{name}: must be an object")
        self._obj: Mapping[str, Any] = obj
        self.name = name

    def path(self, key: str) -> str:
        return f"{self.name}.{key}"

    def has(self, key: str) -> bool:
        return self._obj.get(key) is not None

    def sub(self, key: str) -> Fields:
        return Fields(self._obj.get(key), self.path(key))

    def integer(
        self, key: str, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        value = self._obj.get(key)
        if value is None:
            return None
        # bool is an int in Python but never a valid number in config.json
        if isinstance(value, bool) or not isinstance(value, int):
            raise CgroupError(f"{self.path(key)}: must be an integer")
        if minimum is not None and value < minimum:
            raise CgroupError(f"{self.path(key)}: must be >= {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise CgroupError(f"{self.path(key)}: must be <= {maximum}, not {value}")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self._obj.get(key)
        if value is not None and not isinstance(value, bool):
            raise CgroupError(f"{self.path(key)}: must be a boolean")
        return value

    def string(self, key: str) -> str | None:
        value = self._obj.get(key)
        if value is not None and not isinstance(value, str):
            raise CgroupError(f"{self.path(key)}: must be a string")
        return value

    def objects(self, key: str) -> list[Fields]:
        """A list of objects, each named ``key[i]``."""
        value = self._obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise CgroupError(f"{self.path(key)}: must be an array")
        return [Fields(item, f"{self.path(key)}[{i}]") for i, item in enumerate(value)]

    def mapping(self, key: str) -> dict[str, Any]:
        value = self._obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise CgroupError(f"{self.path(key)}: must be an object")
        return dict(value)
