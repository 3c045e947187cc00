"""name_that_thing gives readable consumer names for the worker's log lines."""

from __future__ import annotations

from channels.utils import name_that_thing


def plain(message: object) -> None:
    """Do nothing."""


class Thing:
    def method(self) -> None:
        """Do nothing."""

    @classmethod
    def klass(cls) -> None:
        """Do nothing."""

    def __call__(self) -> None:
        """Do nothing."""


def test_names_functions_classes_methods_and_instances() -> None:
    module = __name__
    assert name_that_thing(plain) == f"{module}.plain"
    assert name_that_thing(Thing) == f"{module}.Thing"
    assert name_that_thing(Thing().method) == f"{module}.Thing.method"
    assert name_that_thing(Thing.klass) == f"{module}.Thing.klass"
    assert name_that_thing(Thing()) == f"{module}.Thing"
    assert name_that_thing(42) == "42"
    assert name_that_thing(print) == "builtins.print"
