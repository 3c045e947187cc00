"""Run the ``daphne`` command as ``python -m daphne``."""

from daphne.cli import main

main()
