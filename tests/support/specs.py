"""A small real campaign spec for tests and benchmarks: water, HF/STO-3G, two short walkers."""

from __future__ import annotations

from typing import Any

__all__ = ["merged", "water_spec"]


def merged(spec: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with ``overrides``: a dict value is merged into its section, any other replaces the key."""
    out = dict(spec)
    for key, value in overrides.items():
        out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) else value
    return out


def water_spec(name: str, **overrides: Any) -> dict[str, Any]:
    """A campaign spec (as a dict) that converges in seconds: water, HF/STO-3G, 60-step walkers.

    ``overrides``: top-level keys (``schedule="..."``) or sections merged into the defaults
    (``stopping={"max_generations": 1}``).
    """
    spec: dict[str, Any] = {
        "name": name,
        "seed": 1,
        "system": {"molecule": "H2O", "seed_structures": 4, "rattle_A": 0.05},
        "oracle": {"name": "pyscf", "method": "HF", "basis": "sto-3g", "wall_time_s": 60},
        "model": {"kind": "gp"},
        "exploration": {"walkers": 2, "temperatures_K": [300.0, 500.0], "steps": 60, "sampled_frames": 4},
        "selection": {"method": "uncertainty", "max_labels": 3},  # threshold derived from the target
        "validation": {"labels_per_generation": 2, "confirm_labels": 6,
                       "confirm_steps_factor": 2},
        "stopping": {"max_labels": 40, "max_generations": 8, "target_force_mae_eV_per_A": 0.25,
                     "confident_fraction": 0.8},
        "compute": {"oracle_workers": 2, "device": "cpu"},
    }
    return merged(spec, overrides)
