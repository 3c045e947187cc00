#!/usr/bin/env python
"""Run Django commands (``runworker``) for the stack test site."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stack_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
