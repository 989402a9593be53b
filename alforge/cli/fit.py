"""`alforge fit` and `alforge evaluate`: train and score potentials on labelled extxyz files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from alforge.cli.common import console as default_console
from alforge.cli.common import friendly

if TYPE_CHECKING:  # imported where used: the models (torch) load only for the commands that need them
    from alforge.model_spec import CommitteeModelSpec, GPModelSpec, LocalModelSpec

__all__ = ["evaluate", "evaluate_file", "fit", "fit_file", "model_spec_of"]

_DEFAULT_KEYS = ("energy", "forces")


def model_spec_of(
    kind: str | None, model_file: Path | None, settings: list[str]
) -> GPModelSpec | CommitteeModelSpec | LocalModelSpec:
    """The model section `alforge fit` builds from: ``--model`` file, then ``--kind``, then ``--set``.

    ``--kind`` alone starts from that kind's defaults; with ``--model`` it must agree with the file.

    Raises
    ------
    SpecError
        Unknown kind, bad file, or a bad ``--set`` (the message names it and the valid choices).
    """
    from alforge.errors import SpecError
    from alforge.model_spec import load_model_spec, parse_model_spec, with_settings

    if model_file is not None:
        spec = load_model_spec(model_file)
        if kind is not None and kind != spec.kind:
            msg = f"--kind {kind} but {model_file} holds a {spec.kind!r} model; drop --kind or edit the file"
            raise SpecError(msg)
    else:
        spec = parse_model_spec({"kind": kind or "gp"})
    return with_settings(spec, settings) if settings else spec


def fit_file(
    data: Path,
    output: Path,
    *,
    spec: GPModelSpec | CommitteeModelSpec | LocalModelSpec,
    max_structures: int | None,
    device: str,
    dtype: str = "float64",
    seed: int = 0,
    energy_key: str = "energy",
    forces_key: str = "forces",
    console: Console,
) -> Any:
    """Fit the model ``spec`` describes on the labelled frames of ``data`` and save it to ``output``.

    ``energy_key`` and ``forces_key`` name the labels (``info`` / ``arrays`` keys, e.g. ``REF_energy``).
    """
    import numpy as np

    from alforge.data import read_labelled, read_structures

    keys = (energy_key, forces_key)
    frames = read_labelled(data) if keys == _DEFAULT_KEYS else read_structures(data)
    if max_structures is not None and len(frames) > max_structures:
        keep = np.linspace(0, len(frames) - 1, max_structures).round().astype(int)
        frames = [frames[i] for i in keep]
    model = spec.build(device=device, dtype=dtype, seed=seed)
    with console.status(f"fitting a {spec.kind} model on {len(frames)} structures"):
        report = model.fit(frames, energy_key=energy_key, forces_key=forces_key)
    model.save(output)
    console.print(f"fitted {spec.kind} on {len(frames)} structures in {report.fit_time_s:.1f} s → {output}")
    for note in report.notes:
        console.print(f"  {note}", highlight=False)
    console.print(
        f"hyperparameters: {json.dumps(model.hyperparameters, default=float)}", highlight=False, soft_wrap=True
    )
    return model


def evaluate_file(model_path: Path, data: Path, *, as_json: bool, console: Console) -> dict[str, Any]:
    """Score a saved model on the labelled frames of ``data``."""
    from alforge.data import read_labelled
    from alforge.models import evaluate as evaluate_model
    from alforge.models import load_model

    model = load_model(model_path)
    metrics = evaluate_model(model, read_labelled(data))
    if as_json:
        print(json.dumps(metrics, indent=2, default=float))
        return metrics
    table = Table(title=f"{model_path.name} on {data.name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.5g}" if isinstance(value, float) else str(value))
    console.print(table)
    return metrics


@friendly
def fit(
    data: Annotated[Path, typer.Argument(help="Labelled extxyz (energy in info, forces in arrays).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the model file.")],
    kind: Annotated[
        str | None, typer.Option(help="Model kind: gp, committee or local (default gp, or --model's).")
    ] = None,
    model: Annotated[
        Path | None, typer.Option("--model", help="TOML file with a \\[model] section, as in a campaign spec.")
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE model option, e.g. pair_cutoff_A=8.5 or n_members=8 (repeatable)."),
    ] = None,
    energy_key: Annotated[str, typer.Option(help="info key (or calculator result) of the energy in eV.")] = "energy",
    forces_key: Annotated[str, typer.Option(help="arrays key (or calculator result) of forces in eV/Å.")] = "forces",
    max_structures: Annotated[
        int | None, typer.Option(help="Use at most this many structures (evenly spaced).", min=1)
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    dtype: Annotated[str, typer.Option(help="float64 or float32.")] = "float64",
    seed: Annotated[int, typer.Option(help="Seed of subsets, resampling and factorisations.")] = 0,
) -> None:
    """Train a potential on any labelled extxyz file."""
    spec = model_spec_of(kind, model, settings or [])
    fit_file(
        data, output, spec=spec, max_structures=max_structures, device=device, dtype=dtype, seed=seed,
        energy_key=energy_key, forces_key=forces_key, console=default_console,
    )


@friendly
def evaluate(
    model: Annotated[Path, typer.Argument(help="Model file written by `alforge fit` or a campaign.")],
    data: Annotated[Path, typer.Argument(help="Labelled extxyz to score the model on.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Score a potential: energy and force errors, uncertainty calibration, prediction time."""
    evaluate_file(model, data, as_json=as_json, console=default_console)
