"""Helpers of the full-stack benchmark (bench/bench_stack.py): processes, load clients, project."""
