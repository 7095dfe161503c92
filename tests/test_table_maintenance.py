"""Maintenance keeps live files few without losing or duplicating a row, on both engines.

Compaction runs in a background thread while appends go on; each test appends rows with
unique ids and checks afterwards that every id is stored exactly once and that the table
was compacted (an OPTIMIZE commit in its history, fewer live files than appends).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from gateway_conformance.tables.delta import DeltaRsWriter
from gateway_conformance.tables.maintenance import Maintainer, MaintenancePolicy
from gateway_conformance.tables.schema import arrow_schema
from gateway_conformance.tables.writer import TableName
from threads import call_concurrently

LOGS = TableName("main", "otel", "m_otel_logs")


def log_rows(ids: list[str]) -> pa.Table:
    return pa.Table.from_pylist([{"body": row_id, "attributes": [("row.id", row_id)]} for row_id in ids],
                                schema=arrow_schema("otel_logs"))


def operations(path: Path) -> list[str]:
    return [entry["operation"] for entry in DeltaTable(str(path)).history()]


def append_concurrently(writer, threads: int, rounds: int) -> list[str]:  # type: ignore[no-untyped-def]
    """``threads`` callers each appending ``rounds`` two-row batches; returns every id sent."""
    sent: list[list[str]] = [[] for _ in range(threads)]

    def run(index: int) -> None:
        for round_ in range(rounds):
            ids = [f"{index}-{round_}-{n}" for n in range(2)]
            writer.append(LOGS, log_rows(ids))
            sent[index].extend(ids)

    call_concurrently(run, threads, join_seconds=300)
    return [row_id for ids in sent for row_id in ids]


def test_delta_rs_compacts_in_the_background_and_keeps_every_row_once(tmp_path: Path) -> None:
    writer = DeltaRsWriter(tmp_path, maintenance=MaintenancePolicy(compact_every=4, vacuum_every=2))
    writer.create_table(LOGS, "otel_logs")
    sent = append_concurrently(writer, threads=4, rounds=12)
    writer.close()
    path = writer.table_path(LOGS)
    stored = writer.read(LOGS).column("body").to_pylist()
    assert sorted(stored) == sorted(sent) and len(set(stored)) == len(stored)
    done = operations(path)
    writes = done.count("WRITE")
    assert "OPTIMIZE" in done and writes >= 4
    assert len(DeltaTable(str(path)).file_uris()) < writes  # compaction kept the live files few
    assert list((path / "_delta_log").glob("*.checkpoint.parquet")), "no checkpoint written"


def test_delta_rs_maintenance_drops_old_log_entries(tmp_path: Path) -> None:
    """With a short log retention, entries before the last checkpoint are deleted: the log
    folder (which every delta-rs commit lists) stays small."""
    policy = MaintenancePolicy(compact_every=5, log_retention_seconds=0)
    writer = DeltaRsWriter(tmp_path, maintenance=policy)
    writer.create_table(LOGS, "otel_logs")
    for index in range(30):
        writer.append(LOGS, log_rows([f"r{index}"]))
    writer.close()
    log = writer.table_path(LOGS) / "_delta_log"
    commits = sorted(log.glob("*.json"))
    assert len(commits) < 30, f"the log kept all {len(commits)} commits"
    assert sorted(writer.read(LOGS).column("body").to_pylist()) == sorted(f"r{index}" for index in range(30))


def test_delta_rs_maintenance_off_leaves_every_file(tmp_path: Path) -> None:
    writer = DeltaRsWriter(tmp_path, maintenance=MaintenancePolicy(compact_every=0))
    writer.create_table(LOGS, "otel_logs")
    for index in range(6):
        writer.append(LOGS, log_rows([f"r{index}"]))
    writer.close()
    path = writer.table_path(LOGS)
    assert "OPTIMIZE" not in operations(path)
    assert len(DeltaTable(str(path)).file_uris()) == 6


def test_a_failed_pass_is_counted_and_retried_later_and_passes_never_overlap() -> None:
    gate, calls = threading.Event(), []

    def maintain(vacuum: bool) -> None:
        calls.append(vacuum)
        if len(calls) == 1:
            raise OSError("conflict")
        assert gate.wait(30)

    maintainer = Maintainer(maintain, MaintenancePolicy(compact_every=2, vacuum_every=1), name="t")
    for _ in range(2):
        maintainer.committed()
    maintainer.close()
    assert (maintainer.failures, maintainer.passes) == (1, 0)
    for _ in range(6):  # the second pass blocks: later triggers start none beside it
        maintainer.committed()
        time.sleep(0.01)
    assert len(calls) == 2
    gate.set()
    maintainer.close()
    assert (maintainer.failures, maintainer.passes) == (1, 1) and calls == [True, True]


@pytest.mark.gwc_spark
def test_spark_compacts_in_the_background_and_keeps_every_row_once(gwc_local_spark, tmp_path: Path) -> None:
    from gateway_conformance.tables.spark import SparkDeltaWriter

    writer = SparkDeltaWriter(tmp_path, spark=gwc_local_spark, maintenance=MaintenancePolicy(compact_every=3))
    writer.create_table(LOGS, "otel_logs")
    sent = append_concurrently(writer, threads=3, rounds=3)
    writer.close()
    stored = writer.read(LOGS).column("body").to_pylist()
    assert sorted(stored) == sorted(sent) and len(set(stored)) == len(stored)
    assert "OPTIMIZE" in operations(writer.table_path(LOGS))
