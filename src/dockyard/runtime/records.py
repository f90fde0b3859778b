"""Plain record classes, like frozen dataclasses but cheap to define.

The runtime CLI starts a fresh interpreter for every command, and `dataclasses`
costs about 25 ms there: importing it pulls in `inspect`, and each decorated
class compiles generated code with exec(). `record` builds the same
__init__/__repr__/__eq__ from the class annotations with plain closures instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class factory:
    """A default made fresh for each instance (for lists and dicts)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def record(cls: type[T] | None = None, *, frozen: bool = True) -> Any:
    def build(cls: type[T]) -> type[T]:
        names = tuple(cls.__dict__.get("__annotations__", {}))
        defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if len(args) > len(names):
                raise TypeError(f"{cls.__name__} takes at most {len(names)} arguments")
            values = dict(zip(names, args, strict=False))
            for key, value in kwargs.items():
                if key not in names or key in values:
                    raise TypeError(f"{cls.__name__}: unexpected or repeated argument {key!r}")
                values[key] = value
            for name in names:
                if name not in values:
                    if name not in defaults:
                        raise TypeError(f"{cls.__name__}: missing argument {name!r}")
                    default = defaults[name]
                    values[name] = default.make() if isinstance(default, factory) else default
                object.__setattr__(self, name, values[name])

        def __repr__(self: Any) -> str:
            fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
            return f"{cls.__name__}({fields})"

        def __eq__(self: Any, other: object) -> bool:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return all(getattr(self, n) == getattr(other, n) for n in names)

        def __setattr__(self: Any, name: str, value: Any) -> None:
            raise AttributeError(f"{cls.__name__} is immutable; cannot set {name}")

        cls.__init__ = __init__  # type: ignore[misc]
        cls.__repr__ = __repr__  # type: ignore[method-assign]
        cls.__eq__ = __eq__  # type: ignore[method-assign,assignment]
        cls.__hash__ = None  # type: ignore[assignment]
        cls.__record_fields__ = names  # type: ignore[attr-defined]
        if frozen:
            cls.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]
        for name in defaults:
            delattr(cls, name)
        return cls

    return build(cls) if cls is not None else build


def as_dict(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__record_fields__}
