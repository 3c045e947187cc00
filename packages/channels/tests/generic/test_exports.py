"""The generic consumer and binding modules export exactly their intended names."""

from __future__ import annotations

import os
import subprocess
import sys

import channels.binding
import channels.binding.base
import channels.binding.websockets
import channels.generic
import channels.generic.base
import channels.generic.websockets


def test_generic_exports() -> None:
    assert channels.generic.__all__ == ["BaseConsumer"]
    assert set(channels.generic.base.__all__) == {"BaseConsumer", "InvalidFrameError"}
    assert set(channels.generic.websockets.__all__) == {
        "BaseConsumer",
        "InvalidFrameError",
        "JsonWebsocketConsumer",
        "WebsocketConsumer",
        "WebsocketDemultiplexer",
        "WebsocketMultiplexer",
    }


def test_binding_exports() -> None:
    names = {"CREATE", "DELETE", "UPDATE", "Binding", "registered_bindings"}
    assert set(channels.binding.__all__) == names
    assert set(channels.binding.base.__all__) == names | {"BindingMetaclass"}
    assert set(channels.binding.websockets.__all__) == {
        "WebsocketBinding",
        "WebsocketBindingWithMembers",
    }
    assert (channels.binding.CREATE, channels.binding.UPDATE, channels.binding.DELETE) == (
        "create",
        "update",
        "delete",
    )


def test_consumers_and_bindings_can_be_imported_before_django_is_set_up() -> None:
    """A models module imports them while the app registry is still loading."""
    code = (
        "import sys\n"
        "import channels.binding.websockets, channels.generic.websockets\n"
        "assert 'django.contrib.auth.models' not in sys.modules, 'auth models imported'\n"
        "print('ok')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "testproject.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
