"""What every step of the loop shares: the campaign's context, its oracle, its generations.

A step receives database ids; :func:`load_context` turns a campaign id into the spec and level
of theory it runs under. The oracle is built once per level of theory in a process
(:func:`build_oracle`), because a PySCF oracle owns a worker pool.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from alforge.config import CampaignSpec
from alforge.db import Campaign, Database, Generation
from alforge.db import campaigns as store
from alforge.db.structures import get_atoms
from alforge.errors import AlforgeError
from alforge.oracles.level_of_theory import LevelOfTheory

__all__ = [
    "CampaignContext",
    "build_oracle",
    "campaign_starts",
    "get_generation",
    "jsonable",
    "load_context",
    "open_generation",
    "resume_campaign",
    "set_state",
    "start_campaign",
    "start_structures",
]

_ORACLES: dict[str, Any] = {}
_ORACLES_LOCK = threading.Lock()


@dataclass(frozen=True)
class CampaignContext:
    """What every step needs to know about its campaign."""

    campaign_id: int
    name: str
    spec: CampaignSpec
    level: LevelOfTheory


def build_oracle(spec: CampaignSpec) -> Any:
    """The oracle of a spec (cached per level of theory in this process)."""
    from alforge.oracles import get_oracle

    o = spec.oracle
    if o.name == "pyscf":
        kwargs: dict[str, Any] = {
            "method": o.method, "basis": o.basis, "charge": spec.system.charge, "spin": spec.system.spin,
            "density_fit": o.density_fit, "dispersion": o.dispersion, "conv_tol": o.conv_tol,
            "max_cycle": o.max_cycle, "threads": o.threads, "wall_time_s": o.wall_time_s,
            # Labels run in parallel: the nearest earlier orbitals as the SCF guess would depend on
            # which calculation finished first, and a label would differ at the SCF tolerance
            # (forces by ~1e-5 eV/Å) from run to run, enough for the MD to part. The atomic guess
            # keeps a campaign reproducible at its seed for 2-15 % more oracle time
            # (`oracle.options.reuse_guess = true` buys it back).
            "reuse_guess": False, **o.options,
        }
    elif o.name == "ase":
        kwargs = {"calculator": o.method, "charge": spec.system.charge, "spin": spec.system.spin,
                  "wall_time_s": o.wall_time_s, **o.options}
    else:
        kwargs = {"method": o.method, "basis": o.basis, "charge": spec.system.charge, "spin": spec.system.spin,
                  **o.options}
    key = hashlib.sha256(repr(sorted(kwargs.items(), key=str)).encode() + o.name.encode()).hexdigest()
    with _ORACLES_LOCK:
        if key not in _ORACLES:
            _ORACLES[key] = get_oracle(o.name, **kwargs)
        return _ORACLES[key]


def start_structures(spec: CampaignSpec) -> list[Atoms]:
    """The spec's start structures (file frames or the named ASE molecule), read once per campaign."""
    if spec.system.molecule is not None:
        from ase.build import molecule

        return [molecule(spec.system.molecule)]
    from alforge.data import read_structures

    return read_structures(spec.system.structures)  # type: ignore[arg-type]


def start_campaign(db: Database, spec: CampaignSpec) -> int:
    """Create or resume the campaign of ``spec`` (checking the oracle setup first); return its id.

    The start structures are stored with the campaign the first time: from then on seeds and
    walkers read them from the database, never from the spec's file.
    """
    oracle = build_oracle(spec)
    frames = start_structures(spec)
    for atoms in frames:
        oracle.check(atoms.numbers)
    level = oracle.level_of_theory
    stored = {**spec.to_json_dict(), "_level": level.to_dict()}
    with db.session() as session:
        campaign = store.open_campaign(session, spec.name, stored, level)
        store.add_start_structures(session, campaign.id, frames)
        return campaign.id


def resume_campaign(db: Database, name: str) -> int:
    """Id of the stored campaign ``name``, marked running again (for scheduled continuation).

    A campaign stored before revision 0004 gets its start structures from its spec once, here.
    """
    with db.session() as session:
        campaign = store.campaign_by_name(session, name)
        if campaign is None:
            msg = f"no campaign named {name!r}; start it from a spec first (`alforge run SPEC.toml`)"
            raise AlforgeError(msg)
        campaign_id = campaign.id
        known = bool(store.start_structure_ids(session, campaign_id))
    if not known:
        frames = start_structures(load_context(db, campaign_id).spec)
        with db.session() as session:
            store.add_start_structures(session, campaign_id, frames)
    return campaign_id


def campaign_starts(db: Database, campaign_id: int) -> list[Atoms]:
    """A campaign's start structures, from the database."""
    with db.session(readonly=True) as session:
        ids = store.start_structure_ids(session, campaign_id)
        if not ids:
            msg = f"campaign {campaign_id} has no stored start structures; start it with `alforge run SPEC.toml`"
            raise AlforgeError(msg)
        return get_atoms(session, ids)


def set_state(db: Database, campaign_id: int, state: str, message: str | None) -> None:
    """Set a campaign's state and message."""
    with db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None:
            campaign.state = state
            campaign.message = message


def load_context(db: Database, campaign_id: int) -> CampaignContext:
    """Campaign id → its spec and level of theory."""
    with db.session(readonly=True) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            msg = f"campaign {campaign_id} does not exist"
            raise AlforgeError(msg)
        data = {k: v for k, v in campaign.spec.items() if k != "_level"}
        return CampaignContext(
            campaign_id=campaign.id,
            name=campaign.name,
            spec=CampaignSpec.from_dict(data),
            level=LevelOfTheory.from_dict(campaign.spec["_level"]),
        )


def open_generation(db: Database, campaign_id: int) -> tuple[int, int]:
    """The generation to work on (resumed if unfinished); return (generation id, index)."""
    ctx = load_context(db, campaign_id)
    settings = {k: ctx.spec.to_json_dict()[k] for k in ("exploration", "selection", "validation", "stopping")}
    with db.session() as session:
        generation = store.open_generation(session, campaign_id, settings)
        return generation.id, generation.index


def get_generation(session: Any, generation_id: int) -> Generation:
    """The generation row ``generation_id`` (a clear error if it does not exist)."""
    generation = session.get(Generation, generation_id)
    if generation is None:
        msg = f"generation {generation_id} does not exist"
        raise AlforgeError(msg)
    return generation


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value

