"""The three OpenTelemetry signals and the table kind each is stored in.

The tables layer knows only kinds (DDL file stems); this is where a signal meets its kind,
``otel_<signal>``, and the one property the sink checks before writing, ``otel.schemaVersion``.
"""

from __future__ import annotations

from typing import Literal

from gateway_conformance.tables.schema import default_table
from gateway_conformance.tables.writer import TableName

Signal = Literal["metrics", "logs", "spans"]
SIGNALS: tuple[Signal, ...] = ("metrics", "logs", "spans")
#: The table kind (DDL file ``fixtures/schemas/<kind>.sql``) of each signal.
KINDS: dict[Signal, str] = {signal: f"otel_{signal}" for signal in SIGNALS}
SCHEMA_VERSION = "v1"
SCHEMA_VERSION_PROPERTY = "otel.schemaVersion"


def signal_of(kind: str | None) -> Signal | None:
    """The signal whose table kind is ``kind``, None for a table of another kind."""
    return next((signal for signal, known in KINDS.items() if known == kind), None)


def signal_table(signal: Signal, catalog: str, schema: str, table_prefix: str) -> TableName:
    """The documented table name of ``signal`` for a prefix: ``catalog.schema.<prefix>_otel_<signal>``."""
    return default_table(KINDS[signal], catalog, schema, table_prefix)
