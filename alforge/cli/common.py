"""What every command shares: the consoles and :func:`friendly`, which turns alforge errors into exits."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from alforge.errors import AlforgeError, NotAvailableError

__all__ = ["console", "err_console", "friendly"]

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn alforge errors into one line on stderr and an exit status (2: not available, 1: error)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NotAvailableError as exc:
            err_console.print(f"[yellow]not yet available:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except AlforgeError as exc:
            err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
