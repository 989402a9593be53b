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
