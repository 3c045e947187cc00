"""The model whose changes are bound to the page."""

from django.db import models


class Value(models.Model):
    """A named integer."""

    name = models.CharField(max_length=100, unique=True)
    value = models.IntegerField(default=0)
