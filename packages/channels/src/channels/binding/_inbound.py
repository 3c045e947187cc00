"""The inbound half of ``Binding``: apply create/update/delete frames sent by clients.

Client data is untrusted. Only the fields the binding exposes (``fields`` or
all but ``exclude``; never the primary key or non-editable fields) can be
written, each value is converted by its model field, and the result must pass
the model's ``full_clean()`` before it is saved, inside a transaction. Any
failure caused by the frame raises :class:`InvalidFrameError`, which the
binding logs at INFO before dropping the frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models, router, transaction

from channels.generic.base import InvalidFrameError

__all__ = ["InboundMixin"]

logger = logging.getLogger(__name__)

ACTIONS = ("create", "update", "delete")


class InboundMixin:
    """Carry out inbound actions on ``model`` (mixed into ``Binding``)."""

    model: ClassVar[type[models.Model] | None]
    fields: ClassVar[Sequence[str] | None]
    exclude: ClassVar[Sequence[str] | None]
    user: Any
    has_permission: Callable[[Any, str, Any], bool]

    @property
    def _model(self) -> type[models.Model]:
        if self.model is None:
            raise TypeError(f"{type(self).__qualname__} has no model to act on.")
        return self.model

    def writable_fields(self) -> dict[str, Any]:
        """Return the model fields clients may write, by name."""
        fields = {}
        for field in [*self._model._meta.concrete_fields, *self._model._meta.many_to_many]:
            if field.primary_key or not field.editable:
                continue
            if self.fields is not None and list(self.fields) != ["__all__"]:
                if field.name not in self.fields:
                    continue
            if self.exclude is not None and field.name in self.exclude:
                continue
            fields[field.name] = field
        return fields

    def run_action(self, action: str, pk: Any, data: dict[str, Any]) -> None:
        """Check the permission for ``action`` and carry it out."""
        if action not in ACTIONS:
            raise InvalidFrameError(f"unknown action {action!r:.40}; use one of {list(ACTIONS)}")
        if not self.has_permission(self.user, action, pk):
            logger.info(
                "%s: %s may not %s %s pk=%r; ignored",
                type(self).__qualname__,
                self.user,
                action,
                self._model.__name__,
                pk,
            )
            return
        using = router.db_for_write(self._model)
        with transaction.atomic(using=using):
            if action == "create":
                self.create(data)
            elif action == "update":
                self.update(pk, data)
            else:
                self.delete(pk)

    def create(self, data: dict[str, Any]) -> models.Model:
        """Create and return an instance from the client's ``data``."""
        instance = self._model()
        many = self.apply_data(instance, data)
        self._save(instance, many)
        return instance

    def update(self, pk: Any, data: dict[str, Any]) -> models.Model:
        """Change the fields named in ``data`` of the instance ``pk`` and return it."""
        instance = self.get_instance(pk)
        many = self.apply_data(instance, data)
        self._save(instance, many)
        return instance

    def delete(self, pk: Any) -> None:
        """Delete the instance ``pk``."""
        self.get_instance(pk).delete()

    def get_instance(self, pk: Any) -> models.Model:
        """Return the instance with primary key ``pk``; raise InvalidFrameError if there is none."""
        model = self._model
        try:
            value = model._meta.pk.to_python(pk)
            return model._default_manager.get(pk=value)
        except (ValidationError, ValueError, TypeError) as exc:
            raise InvalidFrameError(f"{pk!r:.60} is not a valid {model.__name__} pk") from exc
        except model.DoesNotExist as exc:
            raise InvalidFrameError(f"there is no {model.__name__} with pk {pk!r:.60}") from exc

    def apply_data(self, instance: models.Model, data: dict[str, Any]) -> dict[str, list[Any]]:
        """Set the writable fields named in ``data`` on ``instance``; return many-to-many values."""
        writable = self.writable_fields()
        unknown = sorted(set(data) - set(writable))
        if unknown:
            raise InvalidFrameError(
                f"{type(self).__qualname__} does not accept the fields {unknown!r:.200}; "
                f"it accepts {sorted(writable)!r}"
            )
        many: dict[str, list[Any]] = {}
        for name, value in data.items():
            field = writable[name]
            try:
                if field.many_to_many:
                    if not isinstance(value, list):
                        raise ValidationError(f"expected a list of pks, got {value!r:.60}")
                    many[name] = [field.target_field.to_python(item) for item in value]
                elif field.is_relation:
                    target = None if value is None else field.target_field.to_python(value)
                    setattr(instance, field.attname, target)
                else:
                    setattr(instance, field.attname, field.to_python(value))
            except (ValidationError, ValueError, TypeError) as exc:
                raise InvalidFrameError(f"bad value for {name!r}: {exc}") from exc
        return many

    def _save(self, instance: models.Model, many: dict[str, list[Any]]) -> None:
        # Like a ModelForm: validate what clients may write, not fields they cannot set.
        writable = self.writable_fields()
        excluded = [f.name for f in instance._meta.get_fields() if f.name not in writable]
        try:
            instance.full_clean(exclude=excluded)
        except ValidationError as exc:
            raise InvalidFrameError(f"the data does not validate: {exc.messages}") from exc
        for name, pks in many.items():
            related = instance._meta.get_field(name).related_model
            found = related._base_manager.filter(pk__in=pks).count()
            if found != len(set(pks)):
                raise InvalidFrameError(f"{name!r} names objects that do not exist: {pks!r:.80}")
        instance.save()
        for name, pks in many.items():
            getattr(instance, name).set(pks)
