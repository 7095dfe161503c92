"""Where the dashboard's data comes from: the Delta tables the sink and the gateway fill, and a ledger JSON.

Tables are read through the engine that wrote them (:class:`Tables`). With deltalake they are
found the way the embedded writer lays them out (``<tables-dir>/<catalog>/<schema>/<table>``);
without ``--catalog/--schema`` the one catalog and schema holding the prefix's tables is used,
and a choice between several is refused rather than guessed. With Spark (a local session on
the same folders, or ``--spark-remote`` for tables a Spark Connect server manages) the names
are ``<catalog>.<schema>.<prefix>_<kind>`` (default ``main.otel``), as the writers name them.
A missing table is not an error: it is the dashboard's "no data yet" state, and
:class:`TableSource` says why so the page can too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from gateway_conformance.otlp.signals import KINDS, Signal
from gateway_conformance.tables.delta import read_table as read_delta
from gateway_conformance.tables.schema import table_suffix
from gateway_conformance.tables.writer import DeltaWriter, TableName

#: Catalog and schema of the writers' default names, used where they cannot be discovered.
DEFAULT_CATALOG, DEFAULT_SCHEMA = "main", "otel"


class SourceError(ValueError):
    """Inputs the report cannot use (ambiguous tables, an unreadable ledger)."""


@dataclass
class TableSource:
    """One table (a signal's, or a kind such as ``ai_gateway_usage``): its rows (only the
    columns asked for), or why there are none."""

    signal: Signal | str
    name: str
    rows: pa.Table | None = None
    missing: str | None = None

    @property
    def count(self) -> int:
        return 0 if self.rows is None else self.rows.num_rows


@dataclass
class LedgerSource:
    name: str
    records: list[dict[str, Any]] = field(default_factory=list)
    missing: str | None = None


def _candidates(tables_dir: Path, table: str) -> list[Path]:
    return sorted(path for path in tables_dir.glob(f"*/*/{table}") if DeltaTable.is_deltatable(str(path)))


def _kind(signal: Signal | str) -> str:
    return KINDS.get(signal, signal)  # type: ignore[call-overload]  (a signal, or already a kind)


def resolve_table(tables_dir: Path, signal: Signal | str, table_prefix: str,
                  catalog: str | None, schema: str | None) -> tuple[TableName, Path | None]:
    """The table's three-part name and path (None if it does not exist yet)."""
    table = f"{table_prefix}{table_suffix(_kind(signal))}"
    if catalog and schema:
        path = tables_dir / catalog / schema / table
        return TableName(catalog, schema, table), path if DeltaTable.is_deltatable(str(path)) else None
    found = [p for p in _candidates(tables_dir, table)
             if (catalog is None or p.parent.parent.name == catalog)
             and (schema is None or p.parent.name == schema)]
    if len(found) > 1:
        names = ", ".join(f"{p.parent.parent.name}.{p.parent.name}.{table}" for p in found)
        raise SourceError(f"several tables named {table} under {tables_dir}: {names}; "
                          f"choose one with --catalog and --schema")
    if found:
        path = found[0]
        return TableName(path.parent.parent.name, path.parent.name, table), path
    return TableName(catalog or "<catalog>", schema or "<schema>", table), None


def read_table(tables_dir: Path, signal: Signal | str, table_prefix: str, columns: Sequence[str],
               catalog: str | None = None, schema: str | None = None) -> TableSource:
    """Read only ``columns`` of one signal's table (metrics tables get wide and long)."""
    name, path = resolve_table(tables_dir, signal, table_prefix, catalog, schema)
    if not tables_dir.is_dir():
        return TableSource(signal, str(name), missing=f"tables directory {tables_dir} does not exist")
    if path is None:
        return TableSource(signal, str(name), missing=f"table {name} not found under {tables_dir}")
    rows = read_delta(path, list(columns))
    empty = None if rows.num_rows else f"table {name} is empty"
    return TableSource(signal, str(name), rows=rows, missing=empty)


@dataclass
class Tables:
    """Where the tables are and which engine reads them: ``deltalake`` (local folders) or ``spark``.

    Spark reads through :class:`~gateway_conformance.tables.spark.SparkDeltaWriter`, so a table
    is found under the same name the writer gave it (a Connect server's managed tables included).
    """

    tables_dir: Path | None
    table_prefix: str
    catalog: str | None = None
    schema: str | None = None
    engine: str = "deltalake"
    spark_remote: str | None = None
    _writer: DeltaWriter | None = field(default=None, repr=False)

    def read(self, signal: Signal | str, columns: Sequence[str]) -> TableSource:
        if self.engine == "deltalake":
            if self.tables_dir is None:
                return TableSource(signal, f"{signal} table", missing="no --tables-dir given")
            return read_table(self.tables_dir, signal, self.table_prefix, columns, self.catalog, self.schema)
        from gateway_conformance.tables.writer import UnknownTable

        name = TableName(self.catalog or DEFAULT_CATALOG, self.schema or DEFAULT_SCHEMA,
                         f"{self.table_prefix}{table_suffix(_kind(signal))}")
        where = self.spark_remote or "the local Spark session"
        try:
            rows = self.writer().read(name).select(list(columns))
        except UnknownTable:
            return TableSource(signal, str(name), missing=f"table {name} not found through {where}")
        empty = None if rows.num_rows else f"table {name} is empty"
        return TableSource(signal, str(name), rows=rows, missing=empty)

    def writer(self) -> DeltaWriter:
        if self._writer is None:
            from gateway_conformance.tables.engines import make_writer

            root = self.tables_dir or Path(".")
            self._writer = make_writer("spark", root, remote=self.spark_remote)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_ledger(path: str | os.PathLike[str] | None) -> LedgerSource:
    """The gateway ledger as written by ``GET /_admin/ledger`` (``{"records": [...]}``) or a list."""
    if path is None:
        return LedgerSource("gateway ledger", missing="no ledger given (--ledger PATH)")
    source = os.fspath(path)
    try:
        data = json.loads(Path(source).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourceError(f"{source}: cannot read the ledger: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise SourceError(f"{source}: the ledger is not JSON: {exc.msg} at line {exc.lineno}") from exc
    records = data.get("records") if isinstance(data, dict) else data
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SourceError(f"{source}: expected a list of ledger records or {{\"records\": [...]}}")
    return LedgerSource(source, records, missing=None if records else f"ledger {source} has no records")
