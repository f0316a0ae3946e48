"""Benchmarks: `python -m benchmarks.<name>` prints a table (see benchmarks/README.md)."""
