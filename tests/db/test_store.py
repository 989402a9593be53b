"""Structures and calculations: bit-exact round trips, deduplication, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from sqlalchemy import func, select

from alforge.data import labelled
from alforge.db import Calculation, Database, Structure, add_structures, get_atoms, labelled_frames
from alforge.db.array_type import pack_array, unpack_array
from alforge.db.calculations import ensure_calculations, store_labelled
from alforge.errors import DataError
from alforge.oracles.level_of_theory import LevelOfTheory

LEVEL = LevelOfTheory(code="test", method="HF", basis="sto-3g")


def random_frames(n: int, seed: int = 0) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    base = molecule("CH3CH2OH")
    frames = []
    for _ in range(n):
        atoms = base.copy()
        atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
        frames.append(labelled(atoms, float(rng.normal(-4200, 1)), rng.normal(size=(len(atoms), 3))))
    return frames


@pytest.mark.parametrize("dtype", ["<f8", "<f4", "<i8", "<i4", "bool"])
def test_array_packing_is_bit_exact(dtype: str) -> None:
    rng = np.random.default_rng(1)
    array = (rng.normal(size=(7, 3)) * 1e3).astype(dtype)
    back = unpack_array(pack_array(array))
    assert back.dtype == array.dtype
    assert back.tobytes() == array.tobytes()
    assert len(pack_array(np.zeros((9, 3)))) == 2 + 8 + 9 * 3 * 8


def test_ten_thousand_structures_with_forces_round_trip_bit_exactly(db: Database) -> None:
    frames = random_frames(10_000)
    with db.session() as session:
        calc_ids = store_labelled(session, frames, LEVEL)
    assert len(set(calc_ids)) == 10_000
    with db.session(readonly=True) as session:
        back = labelled_frames(session, calc_ids)
    for original, stored in zip(frames, back, strict=True):
        assert stored.positions.tobytes() == original.positions.tobytes()
        assert stored.numbers.tolist() == original.numbers.tolist()
        assert stored.get_potential_energy() == original.get_potential_energy()
        assert stored.get_forces().tobytes() == original.get_forces().tobytes()
        assert stored.info["level_of_theory_hash"] == LEVEL.hash


def test_same_geometry_is_stored_once(db: Database) -> None:
    water = molecule("H2O")
    nudged = water.copy()
    nudged.positions += 1e-9  # float noise well below the 1e-6 Å resolution
    moved = water.copy()
    moved.positions[0, 0] += 1e-3
    with db.session() as session:
        ids = add_structures(session, [water, nudged, moved])
        again = add_structures(session, [water])
    assert ids[0] == ids[1] == again[0]
    assert ids[2] != ids[0]
    with db.session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(Structure)) == 2
        assert get_atoms(session, [ids[2]])[0].positions.tobytes() == moved.positions.tobytes()


def test_one_calculation_per_structure_and_level(db: Database) -> None:
    frames = random_frames(3)
    other = LevelOfTheory(code="test", method="PBE", basis="sto-3g")
    with db.session() as session:
        first = store_labelled(session, frames, LEVEL)
        second = store_labelled(session, frames, LEVEL)
        sids = add_structures(session, frames)
        pending = ensure_calculations(session, sids, other)
    assert first == second
    assert set(pending.values()).isdisjoint(first)
    with db.session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(Calculation)) == 6


def test_failed_write_leaves_database_as_before(db: Database) -> None:
    with db.session() as session:
        store_labelled(session, random_frames(5, seed=1), LEVEL)
    bad = random_frames(4, seed=2)
    bad[-1].positions[2] = np.nan
    with pytest.raises(DataError, match="atom 2 has non-finite coordinates"), db.session() as session:
        store_labelled(session, bad, LEVEL)
    with pytest.raises(RuntimeError), db.session() as session:
        store_labelled(session, random_frames(3, seed=3), LEVEL)
        raise RuntimeError("crash in the middle of a transaction")
    with db.session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(Structure)) == 5
        assert session.scalar(select(func.count()).select_from(Calculation)) == 5


def test_unlabelled_calculations_are_not_labels(db: Database) -> None:
    with db.session() as session:
        sids = add_structures(session, [molecule("H2O")])
        calc_id = ensure_calculations(session, sids, LEVEL)[sids[0]]
    with pytest.raises(DataError, match="status 'pending'"), db.session() as session:
        labelled_frames(session, [calc_id])


def test_a_generations_candidates_and_calculations_follow_the_walkers_not_who_finished_first(db: Database) -> None:
    """Walkers finish in any order; the order the draws read (and calculation ids) is by walker."""
    from alforge.db import Candidate, campaigns

    frames = random_frames(7, seed=3)
    with db.session() as session:
        campaign = campaigns.open_campaign(session, "order", {"name": "order"}, LEVEL)
        generation = campaigns.open_generation(session, campaign.id, {})
        seeded = campaigns.add_candidates(session, generation.id, frames[:1], [None], ["seed"])
        kept = {}
        for walker in (2, 0, 1):  # as the threads happened to finish
            kept[walker] = [frames[1 + 2 * walker], frames[2 + 2 * walker]]
            campaigns.record_walker(
                session, generation.id, walker, temperature_K=300.0, start_structure_id=None, steps_done=10,
                stop_reason="budget", max_uncertainty_eV_per_A=0.1, wall_time_s=1.0, uncertainties=np.ones(4),
                frames=[(atoms, 0.1, "sampled") for atoms in kept[walker]],
            )
        ordered = list(session.scalars(campaigns.generation_candidates(generation.id)))
        by_walker = [seeded[0], *campaigns.add_candidates(
            session, generation.id, [a for w in (0, 1, 2) for a in kept[w]], [0.1] * 6, ["sampled"] * 6)]
        assert [c.id for c in ordered] == by_walker
        assert by_walker != sorted(by_walker)  # ... which is not the order they were stored in
        for candidate in ordered:
            candidate.selected = True
        calculations = campaigns.generation_calculations(session, generation.id, LEVEL)
    assert [calculations[c] for c in by_walker] == sorted(calculations.values())
    with db.session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(Candidate)) == 7
