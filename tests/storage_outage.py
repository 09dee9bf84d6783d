"""A storage that refuses writes for a while, for real, on both databases.

SQLite: the database is full (`PRAGMA max_page_count` at its current size on every
connection the engine hands out, and at every transaction's start on a connection kept open,
such as the writer's: SQLite itself answers SQLITE_FULL "database or disk is
full", as on a full disk). PostgreSQL: the server refuses (`ALLOW_CONNECTIONS false`, and
every open connection of the database is killed with pg_terminate_backend).
"""

import httpx
import psycopg
import trio
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from gatewayd.core.result_codes import Result

UNLIMITED_PAGES = 1_073_741_823
CLIENTS = 4


class StorageOutage:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.active = False
        self.sqlite = engine.dialect.name == "sqlite"
        if self.sqlite:
            event.listen(engine, "checkout", self._on_checkout)
            event.listen(engine, "begin", self._on_begin)

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

    def _on_begin(self, connection) -> None:
        self._on_checkout(connection.connection.dbapi_connection, None, None)

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


class Traffic:
    """Clients sending one message a request, each to a number of its own, until `stop`:
    which were answered 200 (stored), which 500 with Retry-After (not stored)."""

    def __init__(self, client: httpx.AsyncClient, key: str) -> None:
        self.client = client
        self.key = key
        self.accepted: dict[str, str] = {}
        self.unavailable: set[str] = set()
        self.other: list[str] = []
        self._sent = 0
        self.stop = trio.Event()
        self._changed = trio.Event()

    async def wait_accepted(self, count: int) -> None:
        while len(self.accepted) < count:
            await self._changed.wait()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(CLIENTS):
                nursery.start_soon(self._client)

    async def _client(self) -> None:
        while not self.stop.is_set():
            self._sent += 1
            to = f"3247{self._sent:07d}"
            answer = await self.client.post(
                "/sms/v1/Message", json={"apiKey": self.key, "to": to, "message": "full disk"}
            )
            if answer.status_code == 200:
                self.accepted[to] = answer.json()["Messages"][0]["MessageId"]
            elif answer.status_code == Result.STORAGE_UNAVAILABLE.http_status:
                assert answer.json()["ResultCode"] == int(Result.STORAGE_UNAVAILABLE)
                assert answer.json()["ResultDescription"] == Result.STORAGE_UNAVAILABLE.description
                assert answer.headers["Retry-After"]
                self.unavailable.add(to)
                await trio.sleep(0.05)  # as Retry-After asks, a client does not spin
            else:
                self.other.append(f"{answer.status_code} {answer.text}")
            self._changed.set()
            self._changed = trio.Event()
