"""The writer factory: one name per engine, each engine imported only when chosen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway_conformance.tables.writer import DeltaWriter

ENGINES = ("deltalake", "spark")


def make_writer(engine: str, tables_dir: Path | str, **opts: Any) -> DeltaWriter:
    """The writer for ``--delta-engine``: ``deltalake`` (embedded, default) or ``spark``."""
    if engine == "deltalake":  # imported here: serve without a sink never loads deltalake
        from gateway_conformance.tables.delta import DeltaRsWriter

        return DeltaRsWriter(tables_dir, **opts)
    if engine == "spark":  # imported here: pyspark is an optional extra and starts a JVM
        from gateway_conformance.tables.spark import SparkDeltaWriter

        return SparkDeltaWriter(tables_dir, **opts)
    raise ValueError(f"unknown delta engine {engine!r}; expected one of {', '.join(ENGINES)}")
