"""Reference calculations (oracles): structure in, energy + forces + provenance out.

- :class:`Oracle` / :class:`OracleResult` -- the contract (``base.py``);
- :class:`PySCFOracle` -- HF and DFT with PySCF, each calculation in a killable worker process;
- :class:`ASEOracle` -- any ASE calculator;
- :func:`get_oracle`, :func:`available_oracles`, :func:`oracle_from_level` -- by name or level;
- :func:`label_file` -- label an extxyz file (``alforge label``).

Importing this package does not import PySCF; building a :class:`PySCFOracle` does.

Example
-------
>>> from ase.build import molecule
>>> from alforge.oracles import get_oracle
>>> oracle = get_oracle("pyscf", method="HF", basis="sto-3g")
>>> result = oracle.compute(molecule("H2"))
>>> result.ok, result.forces_eV_per_A.shape
(True, (2, 3))
"""

from alforge.oracles.ase_oracle import ASEOracle
from alforge.oracles.base import Oracle, OracleResult
from alforge.oracles.labelling import label_file
from alforge.oracles.level_of_theory import LevelOfTheory
from alforge.oracles.pyscf_oracle import PySCFOracle
from alforge.oracles.registry import available_oracles, get_oracle, oracle_from_level

__all__ = [
    "ASEOracle",
    "LevelOfTheory",
    "Oracle",
    "OracleResult",
    "PySCFOracle",
    "available_oracles",
    "get_oracle",
    "label_file",
    "oracle_from_level",
]
