"""The contract between the writers of Delta tables and their users: table names, errors, the interface.

Both engines (delta-rs via ``deltalake``, and Spark + delta-spark) implement
:class:`DeltaWriter`, so the sink, the gateway, the plugin and the tests never know which
one runs. A table's *kind* is the stem of the DDL file in ``fixtures/schemas/`` it was
created from (``otel_metrics``, ``ai_gateway_usage``, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

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


@dataclass(frozen=True)
class TableInfo:
    """What a writer tells about an existing table.

    ``kind`` is the DDL whose columns and types the table has exactly (None if none does);
    ``properties`` holds the table's values of the ``TBLPROPERTIES`` keys that DDL declares
    (a key the table lacks is absent), so both engines answer alike whatever else Delta
    keeps in the table's configuration.
    """

    kind: str | None
    properties: dict[str, str]


class WriterOverloaded(RuntimeError):
    """Too many rows wait for a commit; the caller should shed load (HTTP 503 + Retry-After)."""


class UnknownTable(LookupError):
    """The table does not exist under the writer's root."""


class SchemaMismatch(ValueError):
    """Rows whose schema is not the table's, refused before anything is written."""


class DeltaWriter(Protocol):
    """Creates tables from the documented DDL and appends rows; one instance per tables root.

    ``append`` returns only after the Delta commit that holds the rows, which is what lets
    the sink acknowledge an OTLP request. Implementations are safe to call from several
    threads; whether they group concurrent appends into one commit is theirs to decide.
    """

    def create_table(self, name: TableName, kind: str) -> None:
        """Create the table from the DDL of ``kind`` (its columns and TBLPROPERTIES); no-op if it exists."""

    def table_info(self, name: TableName) -> TableInfo | None:
        """The kind and DDL-declared properties of an existing table, None if there is no such table."""

    def append(self, name: TableName, rows: pa.Table) -> None:
        """Append rows (already in the table's Arrow schema) and return after the commit."""

    def read(self, name: TableName) -> pa.Table:
        """All rows of the table, in the table's Arrow schema."""

    def close(self) -> None:
        """Flush anything pending and release the engine."""
