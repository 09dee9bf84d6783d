"""Fixtures shared by every test area: databases (SQLite and PostgreSQL) and a fresh config."""

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from gatewayd.config.schema import DatabaseConfig
from gatewayd.storage.engine import open_engine
from gatewayd.storage.migrate import upgrade

pytest_plugins = ["tests.gateway", "tests.figures"]

POSTGRES_ADMIN_URL = os.environ.get(
    "GATEWAYD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _postgres_admin():
    import psycopg

    url = POSTGRES_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated template database; each test copies it (fast) instead of migrating again."""
    try:
        admin = _postgres_admin()
    except Exception as error:  # any failure means: no server here
        pytest.skip(f"no PostgreSQL server at {POSTGRES_ADMIN_URL}: {error}")
    name = f"gatewayd_tpl_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        engine = open_engine(DatabaseConfig(url=url))
        upgrade(engine)
        engine.dispose()
        yield name
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    name = f"gatewayd_test_{uuid.uuid4().hex[:12]}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'gatewayd.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request) -> str:
    """Both databases: every storage test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = request.getfixturevalue("sqlite_url")
        engine = open_engine(DatabaseConfig(url=url))
        upgrade(engine)
        engine.dispose()
        return url
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(DatabaseConfig(url=database_url))
    yield engine
    engine.dispose()
