"""Benchmark scripts that print tables (run as ``python -m bench.<name>``); not tests."""
