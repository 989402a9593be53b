"""The ``[model]`` section of a campaign spec: one pydantic class per model kind.

``kind`` picks the class (``gp``, ``committee`` or ``local``; default ``gp``); each class
validates its own ``options`` and ``hyperparameters`` and builds its unfitted
:class:`~alforge.models.base.Potential` with :meth:`build`. This module imports pydantic only:
the model stack (PyTorch) is imported when a model is built, so loading a spec stays fast.

``hyperparameters = "fit"`` searches them by marginal likelihood; a table (a fitted model's
``.hyperparameters``, pasted as is) fixes them, and fitting on the same data gives the same model.

Example
-------
>>> spec = parse_model_spec({"kind": "local", "options": {"pair_cutoff_A": 8.5}})
>>> spec.options.pair_cutoff_A
8.5
>>> parse_model_spec({"kind": "committee", "committee_size": 8}).options.n_members
8
>>> with_settings(spec, ["n_pair_inducing=32"]).options.n_pair_inducing
32

Layout: :mod:`~alforge.model_spec.options` (each kind's ``options``),
:mod:`~alforge.model_spec.section` (what every kind's section shares: hyperparameters, warm starts),
:mod:`~alforge.model_spec.kinds` (one class per kind) and :mod:`~alforge.model_spec.parsing`
(``kind`` → class, reading TOML, ``--set``).
"""

from __future__ import annotations

from alforge.model_spec.kinds import CommitteeModelSpec, GPModelSpec, LocalModelSpec
from alforge.model_spec.options import CommitteeOptions, GPOptions, LocalOptions
from alforge.model_spec.parsing import ModelSpec, load_model_spec, parse_model_spec, with_settings

__all__ = [
    "CommitteeModelSpec",
    "CommitteeOptions",
    "GPModelSpec",
    "GPOptions",
    "LocalModelSpec",
    "LocalOptions",
    "ModelSpec",
    "load_model_spec",
    "parse_model_spec",
    "with_settings",
]
