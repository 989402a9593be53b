"""`alforge label`: the PySCF oracle on a structure file, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from alforge.cli.common import console as default_console
from alforge.cli.common import friendly

__all__ = ["label", "label_command"]


def label_command(
    input_path: Path,
    output: Path,
    *,
    method: str,
    basis: str,
    charge: int,
    spin: int,
    workers: int,
    wall_time_s: float,
    failures: Path | None,
    console: Console,
) -> dict[str, object]:
    """Label every structure of ``input_path``; successes to ``output``, failures beside it."""
    from alforge.oracles import PySCFOracle, label_file
    from alforge.oracles.labelling import failures_path_for

    oracle = PySCFOracle(method=method, basis=basis, charge=charge, spin=spin, wall_time_s=wall_time_s)
    with Progress(
        TextColumn("[bold]labelling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        bar = progress.add_task("labelling", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        summary = label_file(input_path, output, oracle, workers=workers, failures_path=failures, progress=advance)
    failed_to = failures or failures_path_for(output)
    console.print(
        f"{summary['ok']} labelled → {output}; {summary['quarantined']} quarantined"
        + (f" → {failed_to} (reasons in info['error'])" if summary["quarantined"] else "")
        + f"; level {oracle.level_of_theory.describe()}"
    )
    return summary


@friendly
def label(
    input_path: Annotated[Path, typer.Argument(metavar="IN.extxyz", help="Structures to label.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Labelled extxyz to write.")],
    method: Annotated[str, typer.Option(help="HF or a DFT functional (PBE, B3LYP, ...).")] = "HF",
    basis: Annotated[str, typer.Option(help="Basis set, e.g. sto-3g, def2-svp.")] = "sto-3g",
    charge: Annotated[int, typer.Option(help="Total charge (e).")] = 0,
    spin: Annotated[int, typer.Option(help="Unpaired electrons, 2S.")] = 0,
    workers: Annotated[int, typer.Option(help="Parallel oracle processes.", min=1)] = 1,
    wall_time_s: Annotated[float, typer.Option(help="Wall-time limit per calculation (s).")] = 600.0,
    failures: Annotated[
        Path | None, typer.Option(help="Where failed structures go (default OUT.failed.extxyz).")
    ] = None,
) -> None:
    """Run the PySCF oracle on structures; failures go to a separate file with reasons."""
    label_command(
        input_path, output, method=method, basis=basis, charge=charge, spin=spin, workers=workers,
        wall_time_s=wall_time_s, failures=failures, console=default_console,
    )
