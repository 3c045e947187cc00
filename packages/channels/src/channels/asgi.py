"""Channel layers configured in ``CHANNEL_LAYERS``, by alias, with their routing.

``channel_layers["default"]`` returns a :class:`ChannelLayerWrapper` around the
layer named by ``BACKEND`` (built with ``CONFIG``), carrying its ``alias``, its
``routing`` and a ``router``. A project's ``asgi.py`` exposes the raw layer for
Daphne with ``channel_layer = get_channel_layer()``.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import django
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from channels.routing import Router

__all__ = [
    "DEFAULT_CHANNEL_LAYER",
    "ChannelLayerManager",
    "ChannelLayerWrapper",
    "InvalidChannelLayerError",
    "channel_layers",
    "get_channel_layer",
]

logger = logging.getLogger(__name__)

DEFAULT_CHANNEL_LAYER = "default"

# 0.x backend paths (shared/seeds/001) and the 1.x layers that replace them.
LEGACY_BACKENDS = {
    "channels.backends.memory.InMemoryChannelBackend": "asgiref.inmemory.ChannelLayer",
    "channels.backends.redis_py.RedisChannelBackend": "asgi_redis.RedisChannelLayer",
    "channels.backends.database.DatabaseChannelBackend": "asgi_ipc.IPCChannelLayer",
}
CONFIG_KEYS = {"BACKEND", "CONFIG", "ROUTING", "TEST_CONFIG"}


class InvalidChannelLayerError(ImproperlyConfigured, ValueError):  # type: ignore[misc]
    """Raise when a channel layer alias is unknown or its settings are unusable."""


def layer_configs() -> dict[str, dict[str, Any]]:
    """Return the configured layers: ``CHANNEL_LAYERS``, or legacy ``CHANNEL_BACKENDS``."""
    configs = getattr(settings, "CHANNEL_LAYERS", None)
    if configs is None and getattr(settings, "CHANNEL_BACKENDS", None) is not None:
        warnings.warn(
            "The CHANNEL_BACKENDS setting is deprecated; rename it to CHANNEL_LAYERS and "
            "set each BACKEND to a channel layer such as 'asgi_redis.RedisChannelLayer'.",
            DeprecationWarning,
            stacklevel=3,
        )
        return _convert_legacy(settings.CHANNEL_BACKENDS)
    if configs is None:
        return {}
    if not isinstance(configs, Mapping):
        raise InvalidChannelLayerError(
            f"CHANNEL_LAYERS must be a dict of aliases such as {{'default': {{...}}}}, "
            f"got {type(configs).__name__} {configs!r:.80}."
        )
    return dict(configs)


def _convert_legacy(backends: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(backends, Mapping):
        raise InvalidChannelLayerError(
            f"CHANNEL_BACKENDS must be a dict of aliases, got {type(backends).__name__}."
        )
    converted: dict[str, dict[str, Any]] = {}
    for alias, config in backends.items():
        if not isinstance(config, Mapping):
            converted[alias] = config
            continue
        new = {k: v for k, v in config.items() if k in CONFIG_KEYS}
        backend = new.get("BACKEND")
        if isinstance(backend, str) and backend in LEGACY_BACKENDS:
            new["BACKEND"] = LEGACY_BACKENDS[backend]
        extra = {k.lower(): v for k, v in config.items() if k not in CONFIG_KEYS}
        if extra and "CONFIG" not in new:
            new["CONFIG"] = extra
        converted[alias] = new
    return converted


def validate_layer_config(alias: str, config: object) -> dict[str, Any]:
    """Return ``config`` if it is a usable layer config, else raise InvalidChannelLayerError."""
    where = f"CHANNEL_LAYERS[{alias!r}]"
    if not isinstance(config, Mapping):
        raise InvalidChannelLayerError(
            f"{where} must be a dict with 'BACKEND' and 'ROUTING', got {config!r:.80}."
        )
    unknown = set(config) - CONFIG_KEYS
    if unknown:
        raise InvalidChannelLayerError(
            f"{where} has unknown keys {sorted(unknown)!r}; allowed are {sorted(CONFIG_KEYS)!r} "
            "(layer options go inside 'CONFIG')."
        )
    backend = config.get("BACKEND")
    if not backend:
        raise InvalidChannelLayerError(
            f"{where} has no 'BACKEND'; set it to a dotted path such as "
            "'asgiref.inmemory.ChannelLayer'."
        )
    if not isinstance(backend, str):
        raise InvalidChannelLayerError(
            f"{where}['BACKEND'] must be a dotted path string, got {backend!r:.80}."
        )
    for key in ("CONFIG", "TEST_CONFIG"):
        value = config.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise InvalidChannelLayerError(
                f"{where}[{key!r}] must be a dict of keyword arguments for {backend}, "
                f"got {type(value).__name__} {value!r:.80}."
            )
    return dict(config)


def import_backend(alias: str, backend: str) -> Any:
    """Import the layer class named by ``BACKEND``; raise InvalidChannelLayerError if missing."""
    try:
        return import_string(backend)
    except ImportError as exc:
        raise InvalidChannelLayerError(
            f"CHANNEL_LAYERS[{alias!r}]['BACKEND'] is {backend!r}, which cannot be imported "
            f"({exc}); install its package or fix the path, e.g. 'asgi_redis.RedisChannelLayer'."
        ) from exc


class ChannelLayerWrapper:
    """A channel layer plus its alias and routing; attribute access falls through to the layer."""

    def __init__(self, channel_layer: Any, alias: str, routing: Any) -> None:
        from channels.routing import Router

        self.channel_layer = channel_layer
        self.alias = alias
        self.routing = routing
        self.router: Router = Router(routing)

    def __getattr__(self, name: str) -> Any:
        if name == "channel_layer":  # not set yet (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.channel_layer, name)

    def local_only(self) -> bool:
        """Return True if this layer only works inside one process (the in-memory layer)."""
        from asgiref.inmemory import ChannelLayer

        return isinstance(self.channel_layer, ChannelLayer)

    def __str__(self) -> str:
        layer_type = type(self.channel_layer)
        return f"{self.alias} ({layer_type.__module__}.{layer_type.__qualname__})"

    def __repr__(self) -> str:
        return f"<ChannelLayerWrapper {self}>"


class ChannelLayerManager:
    """Build channel layers from settings on first use and keep them by alias."""

    def __init__(self) -> None:
        self.backends: dict[str, ChannelLayerWrapper] = {}
        self._lock = threading.RLock()

    @property
    def configs(self) -> dict[str, dict[str, Any]]:
        """Return the layer configurations from settings."""
        return layer_configs()

    def _config(self, alias: str) -> dict[str, Any]:
        configs = self.configs
        if alias not in configs:
            if not configs:
                raise InvalidChannelLayerError(
                    f"No channel layer {alias!r}: the CHANNEL_LAYERS setting is missing or "
                    "empty. Add e.g. CHANNEL_LAYERS = {'default': {'BACKEND': "
                    "'asgiref.inmemory.ChannelLayer', 'ROUTING': 'myproject.routing."
                    "channel_routing'}}."
                )
            raise InvalidChannelLayerError(
                f"No channel layer with the alias {alias!r}; CHANNEL_LAYERS defines "
                f"{sorted(configs)!r}."
            )
        return validate_layer_config(alias, configs[alias])

    def make_backend(self, alias: str) -> ChannelLayerWrapper:
        """Build the layer for ``alias`` from its BACKEND, CONFIG and ROUTING."""
        config = self._config(alias)
        return self._make(alias, config, config.get("CONFIG") or {})

    def make_test_backend(self, alias: str) -> ChannelLayerWrapper:
        """Build the layer for ``alias`` with TEST_CONFIG (falling back to CONFIG) for tests."""
        config = self._config(alias)
        test_config = config.get("TEST_CONFIG")
        return self._make(
            alias, config, test_config if test_config is not None else (config.get("CONFIG") or {})
        )

    def _make(
        self, alias: str, config: dict[str, Any], options: Mapping[str, Any]
    ) -> ChannelLayerWrapper:
        layer_class = import_backend(alias, config["BACKEND"])
        try:
            layer = layer_class(**options)
        except (TypeError, ValueError) as exc:
            raise InvalidChannelLayerError(
                f"CHANNEL_LAYERS[{alias!r}]: {config['BACKEND']} rejected its CONFIG "
                f"{dict(options)!r:.200}: {exc}"
            ) from exc
        return ChannelLayerWrapper(layer, alias, config.get("ROUTING", []))

    def __getitem__(self, alias: str) -> ChannelLayerWrapper:
        layer = self.backends.get(alias)
        if layer is not None:
            return layer
        with self._lock:
            layer = self.backends.get(alias)
            if layer is None:
                layer = self.backends[alias] = self.make_backend(alias)
            return layer

    def __contains__(self, alias: object) -> bool:
        return isinstance(alias, str) and alias in self.configs

    def set(self, alias: str, layer: ChannelLayerWrapper | None) -> ChannelLayerWrapper | None:
        """Install ``layer`` under ``alias`` (None removes it); return what was there."""
        with self._lock:
            old = self.backends.get(alias)
            if layer is None:
                self.backends.pop(alias, None)
            else:
                self.backends[alias] = layer
            return old

    def reset(self) -> None:
        """Forget every built layer so that the next use reads the settings again."""
        with self._lock:
            self.backends.clear()


channel_layers = ChannelLayerManager()


def get_channel_layer(alias: str = DEFAULT_CHANNEL_LAYER) -> Any:
    """Set Django up if needed and return the raw channel layer for ``alias`` (for Daphne)."""
    if not apps.ready:
        django.setup(set_prefix=False)
    return channel_layers[alias].channel_layer
