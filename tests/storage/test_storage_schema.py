"""Migrations, column types and engine settings, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, select, text

from gatewayd.config.schema import DatabaseConfig
from gatewayd.storage.engine import DatabaseUnavailable, check_connection, open_engine
from gatewayd.storage.migrate import current_revision, head_revision, is_up_to_date
from gatewayd.storage.tables import blacklist, metadata


def test_migrations_build_exactly_the_tables_the_code_uses(engine):
    assert is_up_to_date(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_datetimes_come_back_aware_and_in_utc(engine):
    brussels = timezone(timedelta(hours=1))
    written = datetime(2026, 3, 29, 2, 30, tzinfo=brussels)
    with engine.begin() as connection:
        connection.execute(
            insert(blacklist).values(
                account="acme", msisdn="32470000001", source="cli", time_created=written
            )
        )
    with engine.connect() as connection:
        read = connection.execute(select(blacklist.c.time_created)).scalar_one()
    assert read == written
    assert read.tzinfo is not None and read.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(engine):
    with pytest.raises(Exception, match="naive datetime"), engine.begin() as connection:
        connection.execute(
            insert(blacklist).values(
                account="a", msisdn="1", source="cli", time_created=datetime(2026, 1, 1)
            )
        )


def test_sqlite_runs_in_wal_mode_with_full_sync(sqlite_url):
    engine = open_engine(DatabaseConfig(url=sqlite_url))
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA cache_size")).scalar() == -2000, "SQLite's own"
    engine.dispose()


def test_sqlite_page_cache_is_configurable(sqlite_url):
    engine = open_engine(DatabaseConfig(url=sqlite_url, sqlite_cache_mib=8))
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA cache_size")).scalar() == -8 * 1024
    engine.dispose()


def test_a_fresh_database_has_no_revision_until_migrated(tmp_path):
    engine = open_engine(DatabaseConfig(url=f"sqlite:///{tmp_path / 'new' / 'db.sqlite'}"))
    assert current_revision(engine) is None
    assert head_revision() is not None
    assert not is_up_to_date(engine)
    engine.dispose()


def test_an_unreachable_database_is_reported_in_one_line():
    engine = open_engine(DatabaseConfig(url="postgresql://nobody@127.0.0.1:1/none"))
    with pytest.raises(DatabaseUnavailable) as raised:
        check_connection(engine)
    message = str(raised.value)
    assert "\n" not in message and "127.0.0.1:1" in message
    engine.dispose()


def test_postgres_urls_use_psycopg_3():
    from gatewayd.storage.engine import normalized_url

    assert normalized_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    assert normalized_url("sqlite:///x.db") == "sqlite:///x.db"
    assert datetime.now(UTC).tzinfo is UTC
