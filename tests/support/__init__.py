"""Fixtures for alforge's own tests and benchmarks (real servers, no mocks); not part of the package.

Importable as ``tests.support`` with the repository root on ``sys.path``: pytest puts it there
(``pythonpath`` in ``pyproject.toml``), and the benchmarks insert it themselves.
"""
