"""Benchmark harness for the reconciler: `python -m bench --help`."""
