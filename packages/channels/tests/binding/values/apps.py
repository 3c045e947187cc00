"""App config of the binding test models."""

from django.apps import AppConfig


class ValuesConfig(AppConfig):
    """The ``values`` app, as in the manual's data binding examples."""

    name = "binding.values"
    label = "values"
    default_auto_field = "django.db.models.AutoField"
