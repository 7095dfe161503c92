"""The documented DDL (``fixtures/schemas/<kind>.sql``) as Arrow schemas, properties and SQL.

The DDL files are the single source of column names and types: every engine (delta-rs,
Spark) and every producer of rows (the OTLP mapping, the gateway's usage records) derive
their schema from here, so a column is never restated by hand and a change to a DDL file
reaches all of them at once. A table *kind* is the file's stem (``otel_metrics``,
``ai_gateway_usage``, ...); any file in the folder is a kind. sqlglot parses the
Spark/Databricks dialect; the ``<catalog>.<schema>.<table_prefix>`` placeholders, which are
not SQL, are swapped for a dummy name before parsing.

Type mapping (what delta-rs and Spark agree on, JSON-identical Delta schemas):
STRING -> ``string`` (not ``large_string``), LONG/BIGINT -> ``int64``, INT -> ``int32``,
DOUBLE -> ``float64``, BOOLEAN -> ``bool``, TIMESTAMP -> ``timestamp[us, tz=UTC]`` (Delta's
``timestamp``), DATE -> ``date32``, ``MAP<K,V>`` -> ``map_(K, V)``, ``ARRAY<T>`` ->
``list_(T)``, ``STRUCT<...>`` -> ``struct``. Every field, list element and map value is
nullable, as in Spark (Arrow requires map keys to be non-null, and so does Spark).
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import pyarrow as pa
import sqlglot
from sqlglot import exp

from gateway_conformance.resources import schema_file, schema_kinds
from gateway_conformance.tables.writer import TableName

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
    _T.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    _T.DATE: pa.date32(),
}


class SchemaError(ValueError):
    """The DDL file holds something this module cannot turn into Arrow."""


@cache
def ddl_template(kind: str) -> str:
    """The documented DDL text of ``kind``'s table, placeholders kept."""
    path = schema_file(kind)
    if not _IDENT.match(kind) or not path.is_file():
        raise ValueError(f"unknown table kind {kind!r}; expected one of {', '.join(schema_kinds())}")
    text = path.read_text(encoding="utf-8")
    if PLACEHOLDER not in text:
        raise SchemaError(f"{path} lacks the {PLACEHOLDER} placeholder")
    return text


@cache
def _parsed(kind: str) -> exp.Create:
    tree = sqlglot.parse_one(ddl_template(kind).replace(PLACEHOLDER, _DUMMY), dialect=_DIALECT)
    if not isinstance(tree, exp.Create) or not isinstance(tree.this, exp.Schema):
        raise SchemaError(f"{schema_file(kind)} is not a CREATE TABLE with a column list")
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
def arrow_schema(kind: str) -> pa.Schema:
    """The Arrow schema of ``kind``'s table, derived from the documented DDL.

    The schema carries no metadata: engines compare it field by field, and metadata would
    only make equal schemas look different.
    """
    return pa.schema([_arrow_field(column) for column in _parsed(kind).this.expressions])


@cache
def table_properties(kind: str) -> dict[str, str]:
    """The ``TBLPROPERTIES`` of the DDL, e.g. ``{"otel.schemaVersion": "v1"}``.

    Returns a fresh dict per cache entry; callers must not mutate it.
    """
    properties = _parsed(kind).args.get("properties")
    found: dict[str, str] = {}
    for prop in properties.expressions if properties else ():
        if type(prop) is exp.Property:  # FileFormatProperty (USING DELTA) is not a TBLPROPERTY
            found[prop.this.name] = prop.args["value"].name
    return found


@cache
def column_names(kind: str) -> tuple[str, ...]:
    """Top-level column names of ``kind``'s table, in DDL order."""
    return tuple(arrow_schema(kind).names)


def infer_kind(schema: pa.Schema) -> str | None:
    """Which documented table has exactly these columns, in DDL order and with DDL types, if any.

    Used to tell a metrics table from a logs table when a request names an existing table;
    documented column names with other types are no documented table.
    """
    kind = _by_columns().get(frozenset(schema.names))
    if kind is None or schema != arrow_schema(kind):
        return None
    return kind


@lru_cache(maxsize=1)
def _by_columns() -> dict[frozenset[str], str]:
    return {frozenset(column_names(kind)): kind for kind in schema_kinds()}


def declared_properties(kind: str | None, configuration: dict[str, str]) -> dict[str, str]:
    """The values ``configuration`` holds for the TBLPROPERTIES keys ``kind``'s DDL declares."""
    if kind is None:
        return {}
    return {key: configuration[key] for key in table_properties(kind) if key in configuration}


def table_suffix(kind: str) -> str:
    """``_otel_metrics`` etc.: what the DDL appends to the table prefix."""
    match = re.search(re.escape(PLACEHOLDER) + r"(\w*)", ddl_template(kind))
    assert match is not None  # ddl_template guarantees the placeholder
    return match.group(1)


def ddl(kind: str, catalog: str, schema: str, table_prefix: str) -> str:
    """The documented DDL with the placeholders filled in, ready to run verbatim (Spark SQL).

    The table is ``<catalog>.<schema>.<table_prefix><suffix>`` exactly as documented.
    Each part must be a plain identifier, so the text stays the documented one.
    """
    for label, part in (("catalog", catalog), ("schema", schema), ("table_prefix", table_prefix)):
        if not _IDENT.match(part):
            raise ValueError(f"{label} {part!r} is not a plain identifier (letters, digits, underscores)")
    return ddl_template(kind).replace(PLACEHOLDER, f"{catalog}.{schema}.{table_prefix}")


def ddl_with_name(kind: str, table_sql: str) -> str:
    """The documented DDL with its table name (placeholders and suffix) replaced by ``table_sql``.

    ``table_sql`` is already SQL (quoted identifiers or ``delta.`<path>```); nothing else
    of the DDL text changes.
    """
    return ddl_template(kind).replace(PLACEHOLDER + table_suffix(kind), table_sql)


def ddl_for_table(kind: str, table: str) -> str:
    """The documented DDL creating ``table`` (one to three dotted identifiers) instead.

    For engines whose catalog takes another shape than ``catalog.schema.table`` (a local
    Spark ``spark_catalog`` wants ``schema.table``); columns and properties stay verbatim.
    """
    parts = table.split(".")
    if not 1 <= len(parts) <= 3 or not all(_IDENT.match(part) for part in parts):
        raise ValueError(f"table {table!r} is not 1-3 dotted plain identifiers")
    return ddl_with_name(kind, table)


def default_table(kind: str, catalog: str, schema: str, table_prefix: str) -> TableName:
    """The documented table name of ``kind`` for a prefix: ``catalog.schema.<prefix><suffix>``."""
    return TableName(catalog, schema, f"{table_prefix}{table_suffix(kind)}")
