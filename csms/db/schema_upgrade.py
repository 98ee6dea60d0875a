"""Additive schema upgrades: columns a newer version added to tables that already exist.

`generate_schemas(safe=True)` creates missing tables but never alters existing ones, so a
database written by an earlier version would lack the new columns, and every query of
that model (a station's handshake, for one) would fail. A column that can be added
without inventing data - nullable, or with a default - is added with ALTER TABLE ... ADD
COLUMN; any other missing column is refused with a clear error, never guessed.
"""

from __future__ import annotations

import logging
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import Field
from tortoise.fields.relational import RelationalField
from tortoise.models import Model

log = logging.getLogger(__name__)


class SchemaError(RuntimeError):
    """The database lacks a column that cannot be added without data."""


async def add_missing_columns(conn: BaseDBAsyncClient) -> list[str]:
    """Add the columns the models have and the existing tables lack; returns them as
    "table.column"."""
    dialect = conn.schema_generator.DIALECT
    existing = await _columns(conn, dialect)
    added = []
    for model in _models():
        table = model._meta.db_table
        have = existing.get(table)
        if not have:
            continue  # created just now by generate_schemas, whole
        for name, column in model._meta.fields_db_projection.items():
            field = model._meta.fields_map[name]
            if column in have or isinstance(field, RelationalField):
                continue
            await conn.execute_script(_add_column_sql(model, field, column, dialect))
            added.append(f"{table}.{column}")
            log.warning("database upgraded: column %s.%s added", table, column)
    return added


def _models() -> list[type[Model]]:
    return [model for app in Tortoise.apps.values() for model in app.values()]


async def _columns(conn: BaseDBAsyncClient, dialect: str) -> dict[str, set[str]]:
    if dialect == "sqlite":
        tables = await conn.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
        out = {}
        for row in tables:
            info = await conn.execute_query_dict(f'PRAGMA table_info("{row["name"]}")')
            out[str(row["name"])] = {str(column["name"]) for column in info}
        return out
    rows = await conn.execute_query_dict(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
    )
    columns: dict[str, set[str]] = {}
    for row in rows:
        columns.setdefault(str(row["table_name"]), set()).add(str(row["column_name"]))
    return columns


def _add_column_sql(model: type[Model], field: Field[Any], column: str, dialect: str) -> str:
    table = model._meta.db_table
    # Processes of a cluster starting together may add the same column (PostgreSQL only).
    add = "ADD COLUMN" if dialect == "sqlite" else "ADD COLUMN IF NOT EXISTS"
    sql_type = field.get_for_dialect(dialect, "SQL_TYPE")
    default = field.default() if callable(field.default) else field.default
    if default is None and getattr(field, "auto_now_add", False):
        default = "1970-01-01T00:00:00+00:00"  # rows older than the column: unknown time
    if default is None:
        if not field.null:
            raise SchemaError(
                f"table {table} lacks column {column}, which has no default: "
                "this database needs a migration by hand (or a fresh database)"
            )
        return f'ALTER TABLE "{table}" {add} "{column}" {sql_type} NULL'
    value = field.to_db_value(default, model)
    null = "NULL" if field.null else "NOT NULL"
    return f'ALTER TABLE "{table}" {add} "{column}" {sql_type} {null} DEFAULT {_literal(value)}'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"
