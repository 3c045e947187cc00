"""Data binding: send model changes to groups and apply changes clients send."""

from channels.binding.base import CREATE, DELETE, UPDATE, Binding, registered_bindings

__all__ = ["CREATE", "DELETE", "UPDATE", "Binding", "registered_bindings"]
