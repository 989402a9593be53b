"""The ``alforge`` command line (Typer): every command, in the order ``alforge --help`` lists them.

Each command lives with its helpers in a module named after what it works on:

============== =====================================================
``campaign``   ``run``, ``status``, ``export``
``fit``        ``fit``, ``evaluate`` (potentials on extxyz files)
``oracle``     ``label`` (the PySCF oracle on a structure file)
``service``    ``server``, ``serve``, ``dashboard``
``database``   ``db upgrade``, ``db check``
============== =====================================================

Every deliberate error (:class:`alforge.errors.AlforgeError`) is printed as one line on stderr
with a non-zero exit status; commands this version does not provide yet say so and exit 2
(:func:`alforge.cli.common.friendly`).
"""

from __future__ import annotations

import typer

from alforge.cli import campaign, database, fit, oracle, service

__all__ = ["app", "main"]

app = typer.Typer(
    name="alforge",
    help="Active learning of interatomic potentials: GP/committee models, PySCF references, Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The campaign database: migrate, check.", no_args_is_help=True)
app.add_typer(db_app, name="db")

app.command()(campaign.run)
app.command()(campaign.status)
app.command()(fit.fit)
app.command()(fit.evaluate)
app.command()(oracle.label)
app.command()(campaign.export)
app.command()(service.server)
app.command()(service.serve)
app.command()(service.dashboard)
db_app.command("upgrade")(database.db_upgrade)
db_app.command("check")(database.db_check)


def main() -> None:
    """Console-script entry point."""
    app()
