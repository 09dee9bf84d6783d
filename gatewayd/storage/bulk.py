"""Statements run with many rows at once (executemany), whatever the mix of rows.

SQLAlchemy compiles an executemany from the keys of its first row and refuses a batch whose
rows differ in shape. Rows from different sources (a webhook job and an SMPP job, a message
and a STOP confirmation) often do, so every bulk write goes through here: an insert gets
rows completed to one shape (a missing key takes its column's default, else NULL), an
update with its SET taken from the rows runs once per shape.

These are the writer's hottest statements, so they skip SQLAlchemy's per-row work
(parameter construction, default processing; measured in bench/storage_statements.py): each
statement is compiled once per shape and dialect, its rows are converted by the bind
processors of its own column types (exactly what SQLAlchemy would store: UTC datetimes,
JSON) and handed to the DB-API cursor's executemany on the writer's connection and
transaction (storage/driver.py, so errors are SQLAlchemy's as before).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, Update, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

from gatewayd.storage.driver import execute
from gatewayd.storage.types import UtcDateTime

Row = dict[str, Any]
Executable = Table | Update

COPY_FROM_ROWS = 10
"""From this many rows an insert on PostgreSQL is one COPY FROM STDIN: about half the CPU
of the pipelined executemany at 50 and 500 rows, no better at 1 (bench/storage_statements.py)."""


def insert_rows(connection: Connection, table: Table, rows: list[Row]) -> None:
    """Insert `rows` into `table` in one executemany, in order."""
    if not rows:
        return
    keys = {key for row in rows for key in row}
    defaults = {
        column.key: _default(table, column.key)
        for column in table.columns
        if column.key not in keys and column.default is not None
    }
    if defaults or not all(len(row) == len(keys) for row in rows):
        fill = {key: _default(table, key) for key in keys} | defaults
        rows = [{**fill, **row} for row in rows]
    if connection.dialect.driver == "psycopg" and len(rows) >= COPY_FROM_ROWS:
        _copy(connection, table, rows)
    else:
        _execute_many(connection, table, rows)


def update_rows(connection: Connection, statement: Update, rows: list[Row]) -> None:
    """Run `statement` for each row: one executemany per shape of row, so a row never sets
    a column another row of the batch sets and it does not."""
    by_shape: dict[frozenset[str], list[Row]] = {}
    for row in rows:
        by_shape.setdefault(frozenset(row), []).append(row)
    for group in by_shape.values():
        _execute_many(connection, statement, group)


def _default(table: Table, key: str) -> Any:
    default = table.c[key].default
    if default is None:
        return None
    if not default.is_scalar:
        raise ValueError(f"{table.name}.{key} has no scalar default to complete a row with")
    return default.arg


@dataclass(frozen=True)
class _Compiled:
    """A statement's SQL for one shape of row, and how to turn a row into its parameters."""

    sql: str
    positional: bool
    names: tuple[str, ...]
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]
    """(position in `names`, bind processor) of the parameters that have one."""

    def parameters(self, rows: list[Row]) -> list[tuple] | list[dict]:
        """Converted column by column: the loops over rows stay in C."""
        get = itemgetter(*self.names)
        columns: list[Iterable[Any]]
        if len(self.names) == 1:
            columns = [map(get, rows)]
        else:
            columns = list(zip(*map(get, rows), strict=True))
        for position, convert in self.converters:
            columns[position] = map(convert, columns[position])
        values = list(zip(*columns, strict=True))
        if self.positional:
            return values
        return [dict(zip(self.names, row_values, strict=True)) for row_values in values]


_compiled: dict[tuple[int, str, frozenset[str]], tuple[Executable, _Compiled]] = {}


def _execute_many(connection: Connection, target: Executable, rows: list[Row]) -> None:
    """Rows all of one shape: their keys are `target`'s parameters."""
    compiled = _compile(connection.dialect, target, frozenset(rows[0]))
    execute(connection, compiled.sql, compiled.parameters(rows), many=True).close()


def _copy(connection: Connection, table: Table, rows: list[Row]) -> None:
    """Rows all of one shape, in one COPY on the connection's psycopg connection (inside its
    transaction); a failure is raised as SQLAlchemy raises the driver's errors."""
    import psycopg

    compiled = _compile_copy(connection.dialect, table, frozenset(rows[0]))
    driver = connection.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(compiled.sql) as copy:
            for values in compiled.parameters(rows):
                copy.write_row(values)
    except psycopg.Error as error:
        raise DBAPIError.instance(compiled.sql, None, error, psycopg.Error) from error


def _compile_copy(dialect: Dialect, table: Table, keys: frozenset[str]) -> _Compiled:
    cache_key = (id(table), "COPY", keys)
    cached = _compiled.get(cache_key)
    if cached is not None and cached[0] is table:
        return cached[1]
    names = tuple(sorted(keys))
    quote = dialect.identifier_preparer
    columns = ", ".join(quote.format_column(table.c[name]) for name in names)
    sql = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"
    processors = (bind_processor(table.c[name].type, dialect) for name in names)
    converters = tuple(
        (position, process) for position, process in enumerate(processors) if process is not None
    )
    result = _Compiled(sql, True, names, converters)
    _compiled[cache_key] = (table, result)
    return result


def _compile(dialect: Dialect, target: Executable, keys: frozenset[str]) -> _Compiled:
    cache_key = (id(target), dialect.name, keys)
    cached = _compiled.get(cache_key)
    if cached is not None and cached[0] is target:
        return cached[1]
    statement = insert(target).inline() if isinstance(target, Table) else target
    compiler = statement.compile(dialect=dialect, column_keys=sorted(keys))
    assert isinstance(compiler, SQLCompiler)
    positional = bool(compiler.positional)
    names = tuple(compiler.positiontup or ()) if positional else tuple(compiler.binds)
    for name in names:
        if name not in keys:
            raise ValueError(f"{name} missing from the rows of {compiler.string!r}")
    processors = (bind_processor(compiler.binds[name].type, dialect) for name in names)
    converters = tuple(
        (position, process) for position, process in enumerate(processors) if process is not None
    )
    result = _Compiled(compiler.string, positional, names, converters)
    _compiled[cache_key] = (target, result)
    return result


def bind_processor(type_: TypeEngine, dialect: Dialect) -> Callable[[Any], Any] | None:
    """SQLAlchemy's conversion of a parameter of `type_`; UTC datetimes in one step."""
    if isinstance(type_, UtcDateTime):
        return type_.raw_bind_processor(dialect)
    return type_._cached_bind_processor(dialect)
