"""extxyz in and out: any labelled data set can enter or leave the database.

Files follow ASE's conventions: ``energy`` (eV) in each frame's ``info`` and ``forces`` (eV/Å)
in its ``arrays``. Imports are one transaction: a bad frame anywhere leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from alforge.data import read_labelled, write_labelled
from alforge.db.calculations import labelled_frames, store_labelled
from alforge.db.database import Database
from alforge.db.labels import campaign_calculation_ids
from alforge.db.schema import Campaign
from alforge.errors import DataError
from alforge.oracles.level_of_theory import LevelOfTheory

# campaign_calculation_ids lives in alforge.db.labels and is re-exported for its callers here.
__all__ = ["campaign_calculation_ids", "export_campaign", "export_extxyz", "import_extxyz"]


def import_extxyz(db: Database, path: str | Path, level: LevelOfTheory) -> list[int]:
    """Read a labelled extxyz file and store it at ``level``; return calculation ids in file order."""
    frames = read_labelled(path)
    with db.session() as session:
        return store_labelled(session, frames, level)


def export_extxyz(db: Database, calculation_ids: Sequence[int], path: str | Path) -> int:
    """Write the labelled frames of ``calculation_ids`` to ``path``; return how many were written."""
    with db.session(readonly=True) as session:
        frames = labelled_frames(session, calculation_ids)
    for frame in frames:
        frame.info.pop("level_of_theory_hash", None)
    write_labelled(path, frames)
    return len(frames)


def export_campaign(db: Database, name: str, path: str | Path, split: str | None = "train") -> int:
    """Write a campaign's labelled set to extxyz; return the number of frames."""
    with db.session(readonly=True) as session:
        campaign = session.scalar(select(Campaign).where(Campaign.name == name))
        if campaign is None:
            msg = f"no campaign named {name!r}; see `alforge status` for the names"
            raise DataError(msg)
        ids = campaign_calculation_ids(session, campaign.id, split=split)
    return export_extxyz(db, ids, path)
