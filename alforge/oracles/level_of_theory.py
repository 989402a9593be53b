"""The level of theory: everything that changes the numbers a reference calculation returns.

Two results may train the same model only if their levels of theory have the same
:attr:`LevelOfTheory.hash`. The code version is recorded but deliberately left out of the hash,
so that a patch release of PySCF does not orphan a campaign's data.

Example
-------
>>> lot = LevelOfTheory(code="pyscf", method="PBE", basis="def2-svp", charge=0, spin=0)
>>> lot.hash == LevelOfTheory.from_dict(lot.to_dict()).hash
True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LevelOfTheory"]


@dataclass(frozen=True)
class LevelOfTheory:
    """Method, basis, charge, spin and every number-changing setting of a reference code.

    Parameters
    ----------
    code
        Oracle name, e.g. ``"pyscf"`` or ``"ase:EMT"``.
    method
        ``"HF"`` or a functional name PySCF knows (``"PBE"``, ``"B3LYP"``), or the ASE
        calculator's name for adapters.
    basis
        Basis set name, or ``None`` when the code has none.
    charge
        Total charge in units of e.
    spin
        Number of unpaired electrons, 2S (PySCF's convention): 0 for singlets, 1 for doublets.
    settings
        Every other setting that changes the numbers (density fitting, dispersion, grids, ...).
        Values must be JSON-serialisable.
    code_version
        Version string of the code; recorded, not hashed.
    """

    code: str
    method: str
    basis: str | None = None
    charge: int = 0
    spin: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    code_version: str = ""

    def identity(self) -> dict[str, Any]:
        """The hashed part: everything except the code version."""
        data = asdict(self)
        data.pop("code_version")
        data["method"] = self.method.lower()
        data["basis"] = self.basis.lower() if self.basis else None
        return data

    @property
    def hash(self) -> str:
        """Hex SHA-256 (first 16 characters) of the canonical JSON of :meth:`identity`."""
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready), including the code version and the hash."""
        data = asdict(self)
        data["hash"] = self.hash
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LevelOfTheory:
        """Inverse of :meth:`to_dict` (an included ``hash`` key is ignored)."""
        data = {k: v for k, v in data.items() if k != "hash"}
        return cls(**data)

    def describe(self) -> str:
        """Short human-readable label, e.g. ``pyscf PBE/def2-svp (charge 0, spin 0)``."""
        basis = f"/{self.basis}" if self.basis else ""
        return f"{self.code} {self.method}{basis} (charge {self.charge}, spin {self.spin})"
