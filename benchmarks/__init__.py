"""Benchmarks: ``make bench`` (``python -m benchmarks [NAME ...]``) prints one table each."""
