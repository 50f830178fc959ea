"""Benchmarks: each ``bench_*.py`` times the project against a reference in the same run."""
