"""Statements the writer runs on every tick, compiled once per dialect.

SQLAlchemy builds, keys and compiles a statement on each call: at 100 messages/s that was
more than half of the daemon's Python time (py-spy --gil on bench/soak.py --rate 100). A
`Prepared` statement is written once with SQLAlchemy (so its columns come from tables.py),
compiled once per dialect and run on the DB-API cursor of the writer's connection, inside
its transaction (storage/driver.py: errors and lost connections are SQLAlchemy's as before).
Its parameters and results go through the column types' own processors, as in
storage/bulk.py, so what is stored and read back is what SQLAlchemy would store and read. A
list parameter (an IN list, `bindparam(..., expanding=True)`) becomes one placeholder per
item on SQLite, and one array on PostgreSQL (`= ANY(%(ids)s)`): the statement's text is then
the same whatever the list's length, so psycopg prepares it once and the server plans it once
instead of at every tick.
"""

import re
from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from gatewayd.storage.bulk import bind_processor
from gatewayd.storage.driver import execute

_EXPANDING = re.compile(r"__\[POSTCOMPILE_(\w+)\]")
_IN_LIST = re.compile(r"\b(NOT )?IN \(__\[POSTCOMPILE_(\w+)\]\)")


class Prepared:
    """One statement with bound parameters, run as `rows(connection, name=value, ...)` or
    `run(...)`; a parameter not given takes the value the statement was built with."""

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def rows(self, connection: Connection, **values: Any) -> list[Any]:
        """The rows it returns, as named tuples of converted values."""
        compiled = self._compile(connection.dialect)
        cursor = execute(connection, *compiled.render(values))
        try:
            return compiled.convert(cursor.fetchall(), cursor.description)
        finally:
            cursor.close()

    def run(self, connection: Connection, **values: Any) -> int:
        """How many rows it changed."""
        compiled = self._compile(connection.dialect)
        cursor = execute(connection, *compiled.render(values))
        changed = cursor.rowcount
        cursor.close()
        return changed

    def _compile(self, dialect: Dialect) -> "_Compiled":
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _Compiled.of(self._statement, dialect)
        return compiled


@dataclass
class _Compiled:
    sql: str
    positional: bool
    names: tuple[str, ...]
    """The parameters in the order of the SQL (positional) or those it names (named)."""
    defaults: dict[str, Any]
    converters: dict[str, Callable[[Any], Any]]
    expanding: frozenset[str]
    arrays: frozenset[str]
    """List parameters passed as one array (PostgreSQL)."""
    result_types: tuple[Any, ...]
    row_type: type | None
    dialect: Dialect
    rendered: dict[tuple[int, ...], str]
    result_processors: list[Callable[[Any], Any] | None] | None = None

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect) -> "_Compiled":
        compiler = statement.compile(dialect=dialect)
        assert isinstance(compiler, SQLCompiler)
        positional = bool(compiler.positional)
        if positional:
            names = tuple(compiler.positiontup or ())
        else:  # binds also holds SQLAlchemy's internal aliases of each parameter
            sql = compiler.string
            names = tuple(
                name
                for name in compiler.binds
                if f"%({name})s" in sql or f"[POSTCOMPILE_{name}]" in sql
            )
        binds = {name: compiler.binds[name] for name in names}
        converters = {
            name: convert
            for name, bind in binds.items()
            if (convert := bind_processor(bind.type, dialect)) is not None
        }
        columns = compiler._result_columns
        row_type = _row_type([column.keyname for column in columns]) if columns else None
        sql = compiler.string
        lists = {name for name, bind in binds.items() if bind.expanding}
        arrays: set[str] = set()
        if dialect.name == "postgresql":
            sql = _IN_LIST.sub(
                lambda match: f"{'<> ALL' if match.group(1) else '= ANY'}(%({match.group(2)})s)",
                sql,
            )
            arrays = {name for name in lists if f"[POSTCOMPILE_{name}]" not in sql}
        return cls(
            sql=sql,
            positional=positional,
            names=names,
            defaults={name: bind.effective_value for name, bind in binds.items()},
            converters=converters,
            expanding=frozenset(lists - arrays),
            arrays=frozenset(arrays),
            result_types=tuple(column.type for column in columns),
            row_type=row_type,
            dialect=dialect,
            rendered={},
        )

    def render(self, values: dict[str, Any]) -> tuple[str, Sequence[Any] | dict[str, Any]]:
        """The SQL and the driver's parameters for `values`."""
        given = {**self.defaults, **values}
        if not self.expanding:
            return self.sql, self._parameters(given)
        lists = {name: list(given[name]) for name in self.expanding}
        for name, items in lists.items():
            if not items:
                raise ValueError(f"an empty list for {name}")
        lengths = tuple(len(lists[name]) for name in sorted(self.expanding))
        sql = self.rendered.get(lengths)
        if sql is None:
            sql = self.rendered[lengths] = _EXPANDING.sub(
                lambda match: self._placeholders(match.group(1), len(lists[match.group(1)])),
                self.sql,
            )
        return sql, self._parameters(given, lists)

    def _placeholders(self, name: str, count: int) -> str:
        if self.positional:
            return ", ".join("?" * count)
        return ", ".join(f"%({name}_{index})s" for index in range(count))

    def _parameters(
        self, given: dict[str, Any], lists: dict[str, list[Any]] | None = None
    ) -> Sequence[Any] | dict[str, Any]:
        converters = self.converters
        if self.positional:
            out: list[Any] = []
            for name in self.names:
                convert = converters.get(name)
                if lists is not None and name in lists:
                    items = lists[name]
                    out.extend(map(convert, items) if convert else items)
                else:
                    value = given[name]
                    out.append(convert(value) if convert else value)
            return tuple(out)
        named: dict[str, Any] = {}
        for name in self.names:
            convert = converters.get(name)
            if name in self.arrays:
                items = list(given[name])
                if not items:
                    raise ValueError(f"an empty list for {name}")
                named[name] = [convert(item) for item in items] if convert else items
            elif lists is not None and name in lists:
                for index, item in enumerate(lists[name]):
                    named[f"{name}_{index}"] = convert(item) if convert else item
            else:
                value = given[name]
                named[name] = convert(value) if convert else value
        return named

    def convert(self, fetched: list[tuple], description: Any) -> list[Any]:
        assert self.row_type is not None, f"{self.sql!r} returns no rows"
        processors = self.result_processors
        if processors is None:
            processors = self.result_processors = [
                type_._cached_result_processor(self.dialect, column[1])
                for type_, column in zip(self.result_types, description, strict=True)
            ]
        make = self.row_type._make
        if not any(processors):
            return [make(row) for row in fetched]
        return [
            make(
                [value if p is None else p(value) for p, value in zip(processors, row, strict=True)]
            )
            for row in fetched
        ]


def _row_type(keys: list[str]) -> type:
    """A named tuple of `keys` that also answers `_mapping`, as SQLAlchemy's rows do."""
    base = namedtuple("PreparedRow", keys)  # type: ignore[misc]

    class PreparedRow(base):  # type: ignore[misc, valid-type]
        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return self._asdict()

    return PreparedRow
