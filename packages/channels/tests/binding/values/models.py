"""Models bound in the data binding tests: integer and UUID keys, relations."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class IntegerValue(models.Model):
    """The manual's example model."""

    name = models.CharField(max_length=100, unique=True)
    value = models.IntegerField(default=0)


class Tag(models.Model):
    """A tag for posts (many-to-many)."""

    name = models.CharField(max_length=50)


class Post(models.Model):
    """A post on a blog; its groups follow the blog, so edits can move it between groups."""

    title = models.CharField(max_length=100)
    blog = models.CharField(max_length=50)
    secret = models.CharField(max_length=50, default="")
    tags = models.ManyToManyField(Tag, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)


class Item(models.Model):
    """A model with a UUID primary key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    board = models.CharField(max_length=50, default="main")

    @property
    def shout(self) -> str:
        """Return the name in capitals."""
        return self.name.upper()

    def name_length(self) -> int:
        """Return the length of the name."""
        return len(self.name)
