"""A minimal Django project used by the channels tests."""
