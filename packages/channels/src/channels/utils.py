"""Small helpers shared by the worker and the commands."""

from __future__ import annotations

import types
from typing import Any

__all__ = ["name_that_thing"]


def name_that_thing(thing: Any) -> str:
    """Return a readable dotted name for a consumer: function, class, method or instance."""
    if isinstance(thing, types.MethodType):
        owner = thing.__self__
        owner_name = owner.__name__ if isinstance(owner, type) else type(owner).__name__
        return f"{thing.__module__}.{owner_name}.{thing.__name__}"
    if isinstance(thing, type | types.FunctionType | types.BuiltinFunctionType):
        return f"{thing.__module__}.{thing.__qualname__}"
    if hasattr(thing, "__class__") and not isinstance(thing, str | int | float):
        cls = type(thing)
        if cls.__module__ == "builtins":
            return repr(thing)
        return f"{cls.__module__}.{cls.__qualname__}"
    return repr(thing)
