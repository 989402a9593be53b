"""Helpers for alforge's own test suite and benchmarks (real servers, no mocks)."""
