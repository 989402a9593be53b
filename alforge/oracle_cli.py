"""`alforge label`: the PySCF oracle on a structure file, with a progress bar."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["label_command"]


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
