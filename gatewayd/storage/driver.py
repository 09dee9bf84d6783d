"""SQL on the DB-API cursor of a SQLAlchemy connection, inside its transaction.

`exec_driver_sql` costs about 17 µs a statement before the driver sees it (an execution
context, events, a result object); the writer's prepared and bulk statements run about 18 a
message, so they go to the cursor directly. A driver error is raised as SQLAlchemy raises
it (the same exception classes, `connection_invalidated` set and the connection invalidated
when the server went away), so the writer tells storage failures and lost connections apart
as before.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


def execute(connection: Connection, sql: str, parameters: Any, *, many: bool = False) -> Any:
    """Run `sql` once with `parameters`, or once per item of them with `many`; the cursor,
    for its rows and rowcount (the caller closes it)."""
    dbapi_connection = connection.connection
    cursor = dbapi_connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
    except connection.dialect.loaded_dbapi.Error as error:
        _raise_as_sqlalchemy(connection, dbapi_connection, cursor, sql, parameters, error)
    return cursor


def _raise_as_sqlalchemy(
    connection: Connection,
    dbapi_connection: Any,
    cursor: Any,
    sql: str,
    parameters: Sequence[Any] | dict[str, Any],
    error: Exception,
) -> None:
    dialect = connection.dialect
    lost = dialect.is_disconnect(error, dbapi_connection, cursor)
    cursor.close()
    if lost:
        connection.invalidate(error)
    raise DBAPIError.instance(
        sql,
        parameters,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    ) from error
