"""A small Django project the stack tests deploy as real ``daphne`` + ``runworker`` processes."""
