"""Tiny shared helpers for benchmark scripts: a table printer and target checks."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table


def machine() -> str:
    """One line naming this machine (CPU count, Python, platform)."""
    import os

    return f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {platform.system()}"


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a rich table and a Markdown copy (for benchmarks/RESULTS.md)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    Console().print(table)
    print(f"\n<!-- markdown: {title} -->")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print(f"\n{machine()} · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · `{' '.join(sys.argv)}`")


def finish(failures: Sequence[str]) -> None:
    """Exit non-zero, naming each missed target, if any target was missed."""
    if failures:
        for failure in failures:
            print(f"TARGET MISSED: {failure}")
        sys.exit(1)
    print("all targets met")
