"""`alforge db upgrade` and `alforge db check`: the campaign database's schema and integrity."""

from __future__ import annotations

from typing import Annotated

import typer

from alforge.cli.common import console, err_console, friendly

__all__ = ["db_check", "db_upgrade"]


@friendly
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision (default: newest).")] = "head",
) -> None:
    """Migrate the campaign database to the newest schema."""
    from alforge.db import Database

    database = Database(check=False)
    before, after = database.upgrade(revision)
    console.print(f"database {database.safe_url}: schema {before or 'empty'} → {after}")


@friendly
def db_check() -> None:
    """Check the database's integrity (every calculation has its structure, ...); exit 1 on problems."""
    from alforge.db import Database
    from alforge.db.integrity import check_integrity

    database = Database()
    with database.session(readonly=True) as session:
        report = check_integrity(session)
    counts = ", ".join(f"{n} {name}" for name, n in report["counts"].items())
    if report["ok"]:
        console.print(f"database {database.safe_url}: consistent ({counts})")
        return
    for problem in report["problems"]:
        err_console.print(f"[red]problem:[/] {problem}", highlight=False)
    err_console.print(f"database {database.safe_url}: {len(report['problems'])} problems ({counts})")
    raise typer.Exit(1)
