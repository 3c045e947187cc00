"""Turn a ``module:attr`` target into a profile: a layer class, instance or profile."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from asgi_conformance.profile import LayerProfile, profile_for_class, profile_for_instance

__all__ = ["TargetError", "import_target", "load_profile", "parse_config"]

logger = logging.getLogger(__name__)


class TargetError(ValueError):
    """Raised when a target or its configuration cannot be used."""


def import_target(target: str) -> Any:
    """Import ``module:attr`` (attr may be dotted) and return the object it names."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise TargetError(
            f"Target {target!r} must look like 'module:attr', for example "
            "'asgiref.inmemory:ChannelLayer' or 'myproject.asgi:channel_layer'."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(f"Cannot import module {module_name!r} of {target!r}: {exc}") from exc
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError as exc:
            raise TargetError(
                f"Module {module_name!r} has no attribute {attr!r} (looked up for {target!r})."
            ) from exc
    return value


def parse_config(text: str | None) -> dict[str, Any]:
    """Parse ``--config`` JSON into a dict of constructor keyword arguments."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TargetError(f"--config is not valid JSON ({exc}): {text!r}") from exc
    if not isinstance(value, dict):
        raise TargetError(
            f"--config must be a JSON object of keyword arguments, got {text!r}; for "
            'example \'{"hosts": [["127.0.0.1", 6379]]}\'.'
        )
    return value


def load_profile(
    target: str,
    config: Mapping[str, Any] | None = None,
    *,
    receive_tries: int | None = None,
) -> LayerProfile:
    """Return the profile for ``target``: a LayerProfile, a layer class or a layer instance.

    ``config`` (constructor options) only applies to a class. ``receive_tries``
    overrides the profile's value when given.
    """
    value = import_target(target)
    if callable(value) and not isinstance(value, type) and not hasattr(value, "send"):
        # A zero-argument function returning a profile.
        value = value()
    if isinstance(value, LayerProfile):
        if config:
            raise TargetError(
                f"{target!r} is a LayerProfile; --config only applies to a layer class."
            )
        if receive_tries is not None:
            value.receive_tries = receive_tries
        return value
    tries = 1 if receive_tries is None else receive_tries
    if isinstance(value, type):
        try:
            return profile_for_class(value, config, receive_tries=tries)
        except Exception as exc:
            raise TargetError(
                f"Cannot build {target!r} with options {dict(config or {})!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    if config:
        raise TargetError(
            f"{target!r} is a layer instance with its own settings; --config only applies "
            "to a layer class such as 'asgiref.inmemory:ChannelLayer'."
        )
    if not callable(getattr(value, "send", None)) or not callable(getattr(value, "receive", None)):
        raise TargetError(
            f"{target!r} is {value!r}, which is neither a layer class, a layer instance "
            "(with send and receive) nor a LayerProfile."
        )
    return profile_for_instance(value, receive_tries=tries)
