"""A storage that refuses writes for a while, for real, on both databases.

SQLite: the database is full (`PRAGMA max_page_count` at its current size on every
connection the engine hands out: SQLite itself answers SQLITE_FULL "database or disk is
full", as on a full disk). PostgreSQL: the server refuses (`ALLOW_CONNECTIONS false`, and
every open connection of the database is killed with pg_terminate_backend).
"""

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

UNLIMITED_PAGES = 1_073_741_823


class StorageOutage:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.active = False
        self.sqlite = engine.dialect.name == "sqlite"
        if self.sqlite:
            event.listen(engine, "checkout", self._on_checkout)

    def begin(self) -> None:
        self.active = True
        if not self.sqlite:
            name = self.engine.url.database
            with self._admin() as admin:
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )

    def end(self) -> None:
        self.active = False
        if not self.sqlite:
            with self._admin() as admin:
                admin.execute(
                    f'ALTER DATABASE "{self.engine.url.database}" WITH ALLOW_CONNECTIONS true'
                )

    def _on_checkout(self, dbapi_connection, _record, _proxy) -> None:
        cursor = dbapi_connection.cursor()
        if self.active:
            pages = cursor.execute("PRAGMA page_count").fetchone()[0]
            cursor.execute(f"PRAGMA max_page_count={pages}")
        else:
            cursor.execute(f"PRAGMA max_page_count={UNLIMITED_PAGES}")
        cursor.close()

    def _admin(self):
        url = make_url(self.engine.url).set(drivername="postgresql", database="postgres")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
