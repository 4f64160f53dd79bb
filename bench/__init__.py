"""Benchmarks: ``python -m bench dispatch|recovery --json`` (one JSON object on the last line)."""
