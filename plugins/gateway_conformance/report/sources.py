"""Where the dashboard's data comes from: the Delta tables the sink fills, and a ledger JSON.

The tables are found the way the embedded writer lays them out
(``<tables-dir>/<catalog>/<schema>/<table>``); without ``--catalog/--schema`` the one
catalog and schema holding the prefix's tables is used, and a choice between several is
refused rather than guessed. A missing table is not an error: it is the dashboard's "no
data yet" state, and :class:`TableSource` says why so the page can too.
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
from gateway_conformance.tables.writer import TableName


class SourceError(ValueError):
    """Inputs the report cannot use (ambiguous tables, an unreadable ledger)."""


@dataclass
class TableSource:
    """One signal's table: its rows (only the columns asked for), or why there are none."""

    signal: Signal
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


def resolve_table(tables_dir: Path, signal: Signal, table_prefix: str,
                  catalog: str | None, schema: str | None) -> tuple[TableName, Path | None]:
    """The table's three-part name and path (None if it does not exist yet)."""
    table = f"{table_prefix}{table_suffix(KINDS[signal])}"
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


def read_table(tables_dir: Path, signal: Signal, table_prefix: str, columns: Sequence[str],
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
