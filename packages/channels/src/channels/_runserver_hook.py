"""Make ``manage.py runserver`` Channels' command whatever the INSTALLED_APPS order.

Django gives a command name to the FIRST installed app that provides it. When
``django.contrib.staticfiles`` is listed before ``channels``, staticfiles owns
``runserver``. Channels' command subclasses staticfiles' one (so it keeps
``--nostatic`` and ``--insecure``), and :func:`install_runserver_command`, called
from ``ChannelsConfig.ready()``, points staticfiles' runserver module at it:
Django then loads Channels' command under staticfiles' name. Any other app that
provides ``runserver`` (e.g. ``whitenoise.runserver_nostatic``) keeps it, as the
1.x documentation says; move ``channels`` above it to let Channels win.
"""

from __future__ import annotations

import logging

__all__ = ["install_runserver_command"]

logger = logging.getLogger(__name__)

_STATICFILES_RUNSERVER = "django.contrib.staticfiles.management.commands.runserver"


def install_runserver_command() -> bool:
    """Let staticfiles' ``runserver`` name load Channels' command; return True if patched."""
    from importlib import import_module

    from django.core.management import get_commands

    owner = get_commands().get("runserver")
    if owner == "channels":
        return False
    if owner != "django.contrib.staticfiles":
        if owner not in (None, "django.core"):
            logger.warning(
                "The app %r provides its own runserver command, which wins over Channels'; "
                "put 'channels' above it in INSTALLED_APPS to use Channels' runserver.",
                owner,
            )
        return False
    from channels.management.commands.runserver import Command

    module = import_module(_STATICFILES_RUNSERVER)
    namespace = vars(module)
    if namespace.get("Command") is not Command:
        namespace["Command"] = Command
    return True
