"""Engine and session factory: SQLite file by default, any SQLAlchemy URL by setting.

Nothing touches the database at import. :class:`Database` connects on construction, creates
the schema on first use of a new (empty) database, and refuses one at another schema version
with a message that says to run ``alforge db upgrade``.

Example
-------
>>> from sqlalchemy import text
>>> db = Database("sqlite:///:memory:")
>>> with db.session() as session:
...     session.execute(text("select 1")).scalar_one()
1
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from alforge.db import migrate
from alforge.errors import DatabaseError
from alforge.settings import get_settings, redact_url

__all__ = ["Database", "normalise_url"]

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 60_000


def normalise_url(url: str) -> str:
    """Map ``postgres://`` and ``postgresql://`` to the psycopg 3 driver; check the URL parses."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        msg = (
            f"cannot parse database URL {url!r}; expected e.g. sqlite:///path/to/alforge.db or "
            "postgresql://user:password@host:5432/dbname (check ALFORGE_DATABASE_URL)"
        )
        raise DatabaseError(msg) from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock up front (BEGIN IMMEDIATE) so two writers queue on busy_timeout
    # instead of deadlocking on a read-to-write upgrade ("database is locked").
    mode = "DEFERRED" if conn.get_execution_options().get("alforge_readonly") else "IMMEDIATE"
    conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """A campaign database: engine, sessions and schema checks.

    Parameters
    ----------
    url
        SQLAlchemy URL; default from :func:`alforge.settings.get_settings` (``ALFORGE_DATABASE_URL``
        or a SQLite file under ``ALFORGE_HOME``).
    create
        Create the schema when the database is empty (default ``True``).
    check
        Check the connection and schema version (``False`` only for migrations).
    """

    def __init__(self, url: str | None = None, *, create: bool = True, check: bool = True) -> None:
        settings = get_settings()
        self.url = normalise_url(url or settings.database_url)
        self.safe_url = redact_url(self.url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        try:
            self.engine = self._make_engine(parsed, settings)
        except (NoSuchModuleError, ImportError, ArgumentError) as exc:
            msg = f"no database driver for {self.safe_url} ({exc}); use sqlite:/// or postgresql://"
            raise DatabaseError(msg) from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readonly_sessions = sessionmaker(
            self.engine.execution_options(alforge_readonly=True), expire_on_commit=False
        )
        if check:
            self._check_schema(create=create)

    def _make_engine(self, parsed: Any, settings: Any) -> Engine:
        if self.is_sqlite:
            database = parsed.database or ""
            in_memory = database in ("", ":memory:")
            if not in_memory:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
            if in_memory:
                kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
            engine = create_engine(self.url, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        return create_engine(
            self.url,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout_s,
            pool_pre_ping=True,
        )

    def _check_schema(self, *, create: bool) -> None:
        try:
            current = migrate.current_revision(self.engine)
            tables = set(inspect(self.engine).get_table_names())
        except (OperationalError, DBAPIError) as exc:
            raise self._unreachable(exc) from exc
        head = migrate.head_revision()
        if current is None and not (tables - {"alembic_version"}):
            if create:
                migrate.upgrade(self.engine)
            return
        if current is None:
            msg = (
                f"database {self.safe_url} has tables but no alforge schema version; "
                "point ALFORGE_DATABASE_URL at an alforge database or an empty one"
            )
            raise DatabaseError(msg)
        if current != head:
            if current not in migrate.known_revisions():
                msg = (
                    f"database {self.safe_url} is at schema revision {current}, newer than this "
                    f"alforge knows ({head}); upgrade alforge"
                )
            else:
                msg = (
                    f"database {self.safe_url} is at schema revision {current}, this alforge needs "
                    f"{head}; run `alforge db upgrade`"
                )
            raise DatabaseError(msg)

    def _unreachable(self, exc: DBAPIError) -> DatabaseError:
        text_ = str(exc.orig).strip() if exc.orig else str(exc).strip()
        reason = text_.splitlines()[0] if text_ else type(exc).__name__
        return DatabaseError(
            f"cannot open database {self.safe_url}: {reason}; "
            "check ALFORGE_DATABASE_URL and that the server is running"
        )

    def upgrade(self, revision: str = "head") -> tuple[str | None, str | None]:
        """Migrate the schema to ``revision``; return (revision before, revision after)."""
        try:
            before = migrate.current_revision(self.engine)
            migrate.upgrade(self.engine, revision)
            return before, migrate.current_revision(self.engine)
        except (OperationalError, DBAPIError) as exc:
            raise self._unreachable(exc) from exc

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back (nothing written) on error."""
        factory = self._readonly_sessions if readonly else self._sessions
        session = factory()
        try:
            yield session
            if readonly and (session.new or session.dirty or session.deleted):
                msg = "a read-only session tried to write; open it with readonly=False"
                raise DatabaseError(msg)
            session.commit()  # also for reads: a rollback would expire the rows just loaded
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def run(self, work: Callable[[Session], T], *, retries: int = 8, readonly: bool = False) -> T:
        """Run ``work(session)`` in a transaction, retrying with backoff on transient lock errors.

        SQLite's busy timeout handles most contention; this covers what is left (and
        PostgreSQL serialisation failures). ``work`` must be safe to repeat.
        """
        delay_s = 0.05
        for attempt in range(retries + 1):
            try:
                with self.session(readonly=readonly) as session:
                    return work(session)
            except OperationalError as exc:
                transient = "locked" in str(exc) or "could not serialize" in str(exc)
                if not transient or attempt == retries:
                    raise
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, 2.0)
        msg = "unreachable"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.safe_url!r})"
