"""Benchmarks: standalone scripts that print figures (see README.md)."""
