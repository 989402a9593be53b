"""Schema migrations up and down, schema-version checks and connection errors (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from alforge.db import Database, migrate
from alforge.errors import DatabaseError

TABLES = {"campaigns", "generations", "structures", "calculations", "models", "md_runs", "candidates"}


def test_new_database_is_created_at_head(db: Database) -> None:
    assert migrate.current_revision(db.engine) == migrate.head_revision()
    assert set(inspect(db.engine).get_table_names()) >= TABLES


def test_migrate_down_to_base_and_up_again(db: Database) -> None:
    migrate.downgrade(db.engine, "base")
    assert not TABLES & set(inspect(db.engine).get_table_names())
    migrate.upgrade(db.engine)
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    indexes = {ix["name"] for ix in inspect(db.engine).get_indexes("calculations")}
    assert "ix_calculations_finished_at" in indexes


def test_older_schema_is_refused_with_the_fix(db_url: str, db: Database) -> None:
    migrate.downgrade(db.engine, "0001")
    with pytest.raises(DatabaseError, match=r"schema revision 0001.*alforge db upgrade"):
        Database(db_url)
    migrate.upgrade(db.engine)
    Database(db_url).dispose()


def test_foreign_tables_are_not_mistaken_for_alforge(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("create table unrelated (x integer)")
    with pytest.raises(DatabaseError, match="no alforge schema version"):
        Database(url)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("not a url", "cannot parse database URL"),
        ("mysqlx://u@h/db", "no database driver"),
        ("postgresql://alice:s3cret@127.0.0.1:1/nowhere", "cannot open database"),
    ],
)
def test_bad_urls_give_one_clear_line_without_password(url: str, match: str) -> None:
    with pytest.raises(DatabaseError, match=match) as info:
        Database(url)
    message = str(info.value)
    assert "\n" not in message
    assert "s3cret" not in message


def test_schema_matches_the_models_after_migrating(db: Database) -> None:
    """Alembic's autogenerate finds nothing to change: the migrations build exactly the ORM schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from alforge.db.schema import Base

    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_revision_0004_keeps_the_plan_and_splits_reasons(db: Database) -> None:
    """Rows written under revision 0003 come through 0004 with their plan, units and categories."""
    from datetime import UTC, datetime

    from sqlalchemy import MetaData, select

    migrate.downgrade(db.engine, "0003")
    old = MetaData()
    old.reflect(db.engine)
    t, now = old.tables, datetime.now(UTC)
    with db.engine.begin() as c:
        c.execute(t["campaigns"].insert().values(id=1, name="c", spec={}, state="running", created_at=now,
                                                 updated_at=now))
        plan = {"plan": {"threshold_eV_per_A": 0.12, "upper_eV_per_A": 0.36, "kappa": 0.7}}
        c.execute(t["generations"].insert().values(id=1, campaign_id=1, index=1, state="complete", settings=plan,
                                                   timings={}, metrics={}, started_at=now))
        for sid in (1, 2, 3):
            c.execute(t["structures"].insert().values(id=sid, hash=f"h{sid}", formula="H2O", n_atoms=3, numbers=b"",
                                                      positions=b"", cell=b"", pbc=b"", created_at=now))
        rows = [(1, "uncertain: guard", True, "train"), (2, "held-out", True, "validation"),
                (3, "sampled", False, None)]
        for sid, reason, selected, split in rows:
            c.execute(t["candidates"].insert().values(generation_id=1, structure_id=sid, uncertainty=0.2,
                                                      selected=selected, reason=reason, split=split, created_at=now))
    migrate.upgrade(db.engine)
    new = MetaData()
    new.reflect(db.engine)
    g, k = new.tables["generations"], new.tables["candidates"]
    with db.engine.connect() as c:
        stored = c.execute(select(g.c.threshold_eV_per_A, g.c.upper_eV_per_A, g.c.kappa, g.c.label_budget)).one()
        candidates = c.execute(
            select(k.c.origin, k.c.selected_as, k.c.uncertainty_eV_per_A).order_by(k.c.structure_id)
        ).all()
    assert tuple(stored) == (0.12, 0.36, 0.7, None)
    assert [tuple(r) for r in candidates] == [("guard", "uncertain", 0.2), (None, "held-out", 0.2),
                                              ("sampled", None, 0.2)]


def test_states_outside_their_lists_are_refused(db: Database) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), db.engine.begin() as c:
        c.execute(text("INSERT INTO campaigns (name, spec, state) VALUES ('x', '{}', 'finished')"))
