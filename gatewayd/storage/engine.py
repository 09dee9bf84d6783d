"""Opening the database: SQLite in WAL mode as the embedded default, PostgreSQL via psycopg 3."""

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gatewayd.config.schema import DatabaseConfig

WRITES = "gatewayd_writes"
"""Execution option marking a connection whose transactions write (BEGIN IMMEDIATE on SQLite)."""


SQLITE_BUSY_TIMEOUT_S = 5
"""How long a write waits for another process's lock before it is refused: short, so that a
request is answered within http.write_timeout_s; the writer retries work nobody waits for."""

# Primary SQLite result codes of failures that pass by themselves: busy, locked, out of
# memory, I/O error, database or disk full, cannot open, lock protocol.
_PASSING_SQLITE_CODES = {5, 6, 7, 10, 13, 14, 15}


class DatabaseUnavailable(Exception):
    """The database cannot be opened or does not answer."""


def is_passing_failure(error: BaseException) -> bool:
    """Whether a database error is the storage's state (disk full, connection lost, locked,
    server restarting) rather than a fault of the write itself: the same write succeeds
    once the storage is back."""
    if isinstance(error, PoolTimeout):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    original = error.orig
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _PASSING_SQLITE_CODES
    try:
        import psycopg
    except ImportError:
        return False
    # Connection failures, insufficient resources (disk full, too many connections), operator
    # intervention (shutdown, restart), serialization failures and deadlocks.
    return isinstance(original, psycopg.OperationalError)


def normalized_url(url: str) -> str:
    """postgresql:// and postgres:// use psycopg 3, not the psycopg2 default."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def open_engine(config: DatabaseConfig) -> Engine:
    url = make_url(normalized_url(config.url))
    if url.get_backend_name() == "sqlite":
        return _open_sqlite(url.database, config.sqlite_synchronous, config.sqlite_cache_mib)
    engine = create_engine(
        url,
        pool_size=config.pool_size,
        max_overflow=config.pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5},
    )
    return engine


def _open_sqlite(database: str | None, synchronous: str, cache_mib: int | None) -> Engine:
    in_memory = not database or database == ":memory:"
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{database or ':memory:'}",
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        **({} if in_memory else {"pool_size": 8, "max_overflow": 8}),
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself so transactions behave as on PostgreSQL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if cache_mib is not None:
            cursor.execute(f"PRAGMA cache_size={-1024 * cache_mib}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Writers take the lock at BEGIN, so two transactions that read before they write
        # cannot deadlock; readers stay deferred and never wait for a writer (WAL).
        immediate = connection.get_execution_options().get(WRITES, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def check_connection(engine: Engine) -> None:
    """Raise DatabaseUnavailable with a one-line reason when the database does not answer."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise DatabaseUnavailable(f"database {engine.url.render_as_string()}: {reason}") from None
