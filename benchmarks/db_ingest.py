"""Structures per second ingested with forces, for SQLite and PostgreSQL (target ≥ 2,000/s each).

Usage: python benchmarks/db_ingest.py [--n 20000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.build import molecule

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repository root, for tests.support
from _table import finish, print_table

from alforge.data import labelled
from alforge.db import Database, store_labelled
from alforge.oracles.level_of_theory import LevelOfTheory
from tests.support.postgres import PostgresServer

TARGET_PER_S = 2000.0


def frames(n: int) -> list:  # type: ignore[type-arg]
    rng = np.random.default_rng(0)
    base = molecule("CH3CH2OH")
    out = []
    for _ in range(n):
        atoms = base.copy()
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        out.append(labelled(atoms, float(rng.normal(-4200.0, 1.0)), rng.normal(size=(len(atoms), 3))))
    return out


def ingest(url: str, data: list, batch: int = 1000) -> float:  # type: ignore[type-arg]
    db = Database(url)
    level = LevelOfTheory(code="bench", method="HF", basis="sto-3g")
    start = time.perf_counter()
    for i in range(0, len(data), batch):
        with db.session() as session:
            store_labelled(session, data[i : i + batch], level)
    elapsed = time.perf_counter() - start
    db.dispose()
    return len(data) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="structures to ingest per backend")
    args = parser.parse_args()
    data = frames(args.n)
    rows, failures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        rate = ingest(f"sqlite:///{Path(tmp) / 'bench.db'}", data)
        rows.append(("SQLite (WAL file)", args.n, f"{rate:,.0f}", f"≥ {TARGET_PER_S:,.0f}"))
        if rate < TARGET_PER_S:
            failures.append(f"SQLite {rate:.0f}/s < {TARGET_PER_S:.0f}/s")
    with PostgresServer() as server:
        rate = ingest(server.create_database("bench"), data)
        rows.append(("PostgreSQL 15 (local, throwaway: fsync off)", args.n, f"{rate:,.0f}", f"≥ {TARGET_PER_S:,.0f}"))
        if rate < TARGET_PER_S:
            failures.append(f"PostgreSQL {rate:.0f}/s < {TARGET_PER_S:.0f}/s")
    columns = ["backend", "structures", "per second", "target"]
    print_table("ethanol structures + forces ingested per second", columns, rows)
    finish(failures)


if __name__ == "__main__":
    main()
