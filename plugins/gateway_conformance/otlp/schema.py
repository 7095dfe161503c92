"""The documented DDL (``fixtures/schemas/otel_*.sql``) as Arrow schemas, properties and SQL.

The DDL files are the single source of column names and types: every engine (delta-rs,
Spark) and the row mapping derive their schema from here, so a column is never restated by
hand and a change to the documented DDL reaches all of them at once. sqlglot parses the
Spark/Databricks dialect; the ``<catalog>.<schema>.<table_prefix>`` placeholders, which are
not SQL, are swapped for a dummy name before parsing.

Type mapping (what delta-rs and Spark agree on, JSON-identical Delta schemas):
STRING -> ``string`` (not ``large_string``), LONG/BIGINT -> ``int64``, INT -> ``int32``,
DOUBLE -> ``float64``, BOOLEAN -> ``bool``, ``MAP<K,V>`` -> ``map_(K, V)``, ``ARRAY<T>`` ->
``list_(T)``, ``STRUCT<...>`` -> ``struct``. Every field, list element and map value is
nullable, as in Spark (Arrow requires map keys to be non-null, and so does Spark).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache, lru_cache

import pyarrow as pa
import sqlglot
from sqlglot import exp

from gateway_conformance.otlp.tables import SIGNALS, Signal, TableName
from gateway_conformance.resources import schema_file

PLACEHOLDER = "<catalog>.<schema>.<table_prefix>"
_DUMMY = "placeholder_catalog.placeholder_schema.placeholder_prefix"
_DIALECT = "databricks"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_T = exp.DataType.Type
_SCALARS: dict[exp.DataType.Type, pa.DataType] = {
    _T.TEXT: pa.string(),
    _T.VARCHAR: pa.string(),
    _T.BIGINT: pa.int64(),
    _T.INT: pa.int32(),
    _T.DOUBLE: pa.float64(),
    _T.BOOLEAN: pa.bool_(),
}


class SchemaError(ValueError):
    """The DDL file holds something this module cannot turn into Arrow."""


def _check_signal(signal: str) -> Signal:
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}; expected one of {', '.join(SIGNALS)}")
    return signal  # type: ignore[return-value]


@cache
def ddl_template(signal: Signal) -> str:
    """The documented DDL text of ``signal``'s table, placeholders kept."""
    text = schema_file(_check_signal(signal)).read_text(encoding="utf-8")
    if PLACEHOLDER not in text:
        raise SchemaError(f"{schema_file(signal)} lacks the {PLACEHOLDER} placeholder")
    return text


@cache
def _parsed(signal: Signal) -> exp.Create:
    tree = sqlglot.parse_one(ddl_template(signal).replace(PLACEHOLDER, _DUMMY), dialect=_DIALECT)
    if not isinstance(tree, exp.Create) or not isinstance(tree.this, exp.Schema):
        raise SchemaError(f"{schema_file(signal)} is not a CREATE TABLE with a column list")
    return tree


def _arrow_type(kind: exp.DataType, where: str) -> pa.DataType:
    if kind.this in _SCALARS:
        return _SCALARS[kind.this]
    inner = kind.expressions
    if kind.this == _T.ARRAY and len(inner) == 1:
        return pa.list_(pa.field("element", _arrow_type(inner[0], f"{where}[]"), nullable=True))
    if kind.this == _T.MAP and len(inner) == 2:
        return pa.map_(_arrow_type(inner[0], f"{where}.key"), _arrow_type(inner[1], f"{where}.value"))
    if kind.this == _T.STRUCT:
        return pa.struct([_arrow_field(column, where) for column in inner])
    raise SchemaError(f"column {where}: unsupported DDL type {kind.sql(dialect=_DIALECT)}")


def _arrow_field(column: exp.Expression, parent: str = "") -> pa.Field:
    if not isinstance(column, exp.ColumnDef) or not isinstance(column.args.get("kind"), exp.DataType):
        raise SchemaError(f"{parent or 'table'}: expected `name TYPE`, got {column.sql(dialect=_DIALECT)}")
    name = column.name
    where = f"{parent}.{name}" if parent else name
    return pa.field(name, _arrow_type(column.args["kind"], where), nullable=True)


@cache
def arrow_schema(signal: Signal) -> pa.Schema:
    """The Arrow schema of ``signal``'s table, derived from the documented DDL.

    The schema carries no metadata: engines compare it field by field, and metadata would
    only make equal schemas look different.
    """
    return pa.schema([_arrow_field(column) for column in _parsed(signal).this.expressions])


@cache
def table_properties(signal: Signal) -> dict[str, str]:
    """The ``TBLPROPERTIES`` of the DDL, e.g. ``{"otel.schemaVersion": "v1"}``.

    Returns a fresh dict per cache entry; callers must not mutate it.
    """
    properties = _parsed(signal).args.get("properties")
    found: dict[str, str] = {}
    for prop in properties.expressions if properties else ():
        if type(prop) is exp.Property:  # FileFormatProperty (USING DELTA) is not a TBLPROPERTY
            found[prop.this.name] = prop.args["value"].name
    return found


@cache
def column_names(signal: Signal) -> tuple[str, ...]:
    """Top-level column names of ``signal``'s table, in DDL order."""
    return tuple(arrow_schema(signal).names)


def infer_signal(names: Iterable[str]) -> Signal | None:
    """Which documented table has exactly these top-level columns (order ignored), if any.

    Used to tell a metrics table from a logs table when a request names an existing table.
    """
    wanted = frozenset(names)
    return _by_columns().get(wanted)


@lru_cache(maxsize=1)
def _by_columns() -> dict[frozenset[str], Signal]:
    return {frozenset(column_names(signal)): signal for signal in SIGNALS}


def table_suffix(signal: Signal) -> str:
    """``_otel_metrics`` etc.: what the DDL appends to the table prefix."""
    match = re.search(re.escape(PLACEHOLDER) + r"(\w*)", ddl_template(signal))
    assert match is not None  # ddl_template guarantees the placeholder
    return match.group(1)


def ddl(signal: Signal, catalog: str, schema: str, table_prefix: str) -> str:
    """The documented DDL with the placeholders filled in, ready to run verbatim (Spark SQL).

    The table is ``<catalog>.<schema>.<table_prefix>_otel_<signal>`` exactly as documented.
    Each part must be a plain identifier, so the text stays the documented one.
    """
    for label, part in (("catalog", catalog), ("schema", schema), ("table_prefix", table_prefix)):
        if not _IDENT.match(part):
            raise ValueError(f"{label} {part!r} is not a plain identifier (letters, digits, underscores)")
    return ddl_template(signal).replace(PLACEHOLDER, f"{catalog}.{schema}.{table_prefix}")


def ddl_for_table(signal: Signal, table: str) -> str:
    """The documented DDL creating ``table`` (one to three dotted identifiers) instead.

    For engines whose catalog takes another shape than ``catalog.schema.table`` (a local
    Spark ``spark_catalog`` wants ``schema.table``); columns and properties stay verbatim.
    """
    parts = table.split(".")
    if not 1 <= len(parts) <= 3 or not all(_IDENT.match(part) for part in parts):
        raise ValueError(f"table {table!r} is not 1-3 dotted plain identifiers")
    return ddl_template(signal).replace(PLACEHOLDER + table_suffix(signal), table)


def default_table(signal: Signal, catalog: str, schema: str, table_prefix: str) -> TableName:
    """The documented table name of ``signal`` for a prefix: ``catalog.schema.<prefix>_otel_x``."""
    return TableName(catalog, schema, f"{table_prefix}{table_suffix(signal)}")
