"""The campaign database: schema, sessions, migrations, import/export (no Prefect here)."""

from alforge.db.calculations import ensure_calculations, finish_calculation, labelled_frames, store_labelled
from alforge.db.database import Database
from alforge.db.schema import (
    Base,
    Calculation,
    Campaign,
    CampaignStart,
    Candidate,
    Generation,
    MDRun,
    ModelRecord,
    Structure,
    WalkerStart,
)
from alforge.db.structures import add_structures, get_atoms, structure_hash

__all__ = [
    "Base",
    "Calculation",
    "Campaign",
    "CampaignStart",
    "Candidate",
    "Database",
    "Generation",
    "MDRun",
    "ModelRecord",
    "Structure",
    "WalkerStart",
    "add_structures",
    "ensure_calculations",
    "finish_calculation",
    "get_atoms",
    "labelled_frames",
    "store_labelled",
    "structure_hash",
]
