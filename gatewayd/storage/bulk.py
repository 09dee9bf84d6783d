"""Statements run with many rows at once (executemany), whatever the mix of rows.

SQLAlchemy compiles an executemany from the keys of its first row and refuses a batch whose
rows differ in shape. Rows from different sources (a webhook job and an SMPP job, a message
and a STOP confirmation) often do, so every bulk write goes through here: an insert gets
rows completed to one shape (a missing key takes its column's default, else NULL), an
update with its SET taken from the rows runs once per shape.
"""

from typing import Any

from sqlalchemy import Connection, Table, Update, insert

Row = dict[str, Any]


def insert_rows(connection: Connection, table: Table, rows: list[Row]) -> None:
    """Insert `rows` into `table` in one executemany, in order."""
    if not rows:
        return
    keys = {key for row in rows for key in row}
    if all(len(row) == len(keys) for row in rows):
        connection.execute(insert(table), rows)
        return
    fill = {key: _default(table, key) for key in keys}
    connection.execute(insert(table), [{**fill, **row} for row in rows])


def update_rows(connection: Connection, statement: Update, rows: list[Row]) -> None:
    """Run `statement` for each row: one executemany per shape of row, so a row never sets
    a column another row of the batch sets and it does not."""
    by_shape: dict[frozenset[str], list[Row]] = {}
    for row in rows:
        by_shape.setdefault(frozenset(row), []).append(row)
    for group in by_shape.values():
        connection.execute(statement, group)


def _default(table: Table, key: str) -> Any:
    default = table.c[key].default
    if default is None:
        return None
    if not default.is_scalar:
        raise ValueError(f"{table.name}.{key} has no scalar default to complete a row with")
    return default.arg
