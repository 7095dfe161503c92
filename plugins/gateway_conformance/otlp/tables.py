"""The contract between the sink and the Delta engines: table names and the writer interface.

Both engines (delta-rs via ``deltalake``, and Spark + delta-spark) implement
:class:`DeltaWriter`, so the sink, the plugin and the tests never know which one runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol

import pyarrow as pa

Signal = Literal["metrics", "logs", "spans"]
SIGNALS: tuple[Signal, ...] = ("metrics", "logs", "spans")
SCHEMA_VERSION = "v1"
SCHEMA_VERSION_PROPERTY = "otel.schemaVersion"

_PART = r"[A-Za-z_][A-Za-z0-9_]*"
_NAME = re.compile(rf"^({_PART})\.({_PART})\.({_PART})$")


@dataclass(frozen=True, order=True)
class TableName:
    """A Unity Catalog three-part name, as carried by ``X-Databricks-UC-Table-Name``."""

    catalog: str
    schema: str
    table: str

    @classmethod
    def parse(cls, text: str) -> TableName:
        match = _NAME.match(text.strip())
        if match is None:
            raise ValueError(f"table name {text!r} is not of the form catalog.schema.table "
                             f"(letters, digits and underscores, not starting with a digit)")
        return cls(*match.groups())

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"


class DeltaWriter(Protocol):
    """Creates the documented tables and appends mapped rows; one instance per tables root.

    ``append`` returns only after the Delta commit that holds the rows, which is what lets
    the sink acknowledge an OTLP request. Implementations are safe to call from several
    threads; whether they group concurrent appends into one commit is theirs to decide.
    """

    def create_table(self, name: TableName, signal: Signal) -> None:
        """Create the table from the documented DDL (property ``otel.schemaVersion`` = v1);
        no-op if it exists."""

    def table_signal(self, name: TableName) -> tuple[Signal | None, str | None] | None:
        """``(signal, schema_version)`` of an existing table, None if there is no such table.

        The signal is inferred from the table's columns (None if it matches no documented
        table); the version is the ``otel.schemaVersion`` property (None if unset)."""

    def append(self, name: TableName, rows: pa.Table) -> None:
        """Append rows (already in the table's Arrow schema) and return after the commit."""

    def read(self, name: TableName) -> pa.Table:
        """All rows of the table, in the table's Arrow schema."""

    def close(self) -> None:
        """Flush anything pending and release the engine."""
