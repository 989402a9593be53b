"""`alforge run`, `alforge status` and `alforge export`: run a campaign, report on it, take its labels out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from alforge.cli.common import console, friendly

__all__ = ["export", "run", "status"]


@friendly
def run(
    spec: Annotated[Path, typer.Argument(help="Campaign spec (TOML).", exists=False)],
    progress: Annotated[bool, typer.Option(help="Show live progress bars.")] = True,
) -> None:
    """Run (or resume) the campaign described by SPEC."""
    from alforge.api import run_spec_file

    run_spec_file(spec, console=console if progress else None)


@friendly
def status(
    name: Annotated[str | None, typer.Argument(help="Campaign name (all campaigns if omitted).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Campaigns and their generations, labels, errors and state."""
    from alforge.reports import campaign_status

    report = campaign_status(name)
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    from alforge.reports import render_status

    render_status(report, console)


@friendly
def export(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="extxyz file to write.")],
    split: Annotated[str, typer.Option(help="train, validation or all.")] = "train",
) -> None:
    """Write the labelled set of a campaign to extxyz."""
    from alforge.db import Database
    from alforge.db.exchange import export_campaign

    if split not in ("train", "validation", "all"):
        msg = f"--split {split!r}: use train, validation or all"
        raise typer.BadParameter(msg)
    count = export_campaign(Database(), name, output, split=None if split == "all" else split)
    console.print(f"wrote {count} labelled structures of campaign {name!r} to {output}")
