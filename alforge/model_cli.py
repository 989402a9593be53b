"""`alforge fit` and `alforge evaluate`: train and score potentials on labelled extxyz files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from alforge.data import read_labelled

__all__ = ["evaluate_file", "fit_file"]


def fit_file(
    data: Path, output: Path, *, kind: str, max_structures: int | None, device: str, console: Console
) -> Any:
    """Fit a ``kind`` model on the labelled frames of ``data`` and save it to ``output``."""
    from alforge.models import build_model

    frames = read_labelled(data)
    if max_structures is not None and len(frames) > max_structures:
        keep = np.linspace(0, len(frames) - 1, max_structures).round().astype(int)
        frames = [frames[i] for i in keep]
    model = build_model(kind, device=device)
    with console.status(f"fitting a {kind} model on {len(frames)} structures"):
        report = model.fit(frames)
    model.save(output)
    console.print(f"fitted {kind} on {len(frames)} structures → {output}")
    console.print(f"fit report: {report}")
    return model


def evaluate_file(model_path: Path, data: Path, *, as_json: bool, console: Console) -> dict[str, Any]:
    """Score a saved model on the labelled frames of ``data``."""
    from alforge.models import evaluate, load_model

    model = load_model(model_path)
    metrics = evaluate(model, read_labelled(data))
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
