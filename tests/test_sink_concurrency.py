"""No loss, no duplicates: 16 concurrent SDK exporters against a sink that refuses at random.

Each data point carries a unique ``point.id``. The sink injects 503s (before the commit);
the OpenTelemetry exporters retry them as the OTLP spec says. Afterwards the Delta table
must hold exactly the points whose export the SDK saw acknowledged, each once, whichever
engine wrote it. With deltalake the commits must also be fewer than the acknowledged
requests (group commit, read from the delta-rs commit metadata).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from deltalake import DeltaTable
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from conftest import SinkEngine
from gateway_conformance.otlp.sink import SinkFaults
from gateway_conformance.tables.delta import APPENDS_KEY
from gateway_conformance.tables.maintenance import MaintenancePolicy

pytestmark = pytest.mark.timeout(180)

TOKEN = "gc-test-concurrency-token"


@dataclass(frozen=True)
class Load:
    exporters: int
    batches: int  # exports per exporter, one after the other
    points: int  # per export


#: The same 16 concurrent exporters on both engines; Spark gets fewer rounds, since each of
#: its commits costs ~0.5-1 s on 2 cores (group commit still takes all that waits in one).
LOADS = {"deltalake": Load(exporters=16, batches=8, points=40),
         "spark": Load(exporters=16, batches=3, points=40)}


@dataclass(frozen=True)
class LoadRun:
    """What one load against a faulty sink left: the SDK's verdicts and the stored points."""

    load: Load
    acknowledged: list[str]
    failed_exports: int
    injected: int
    stored: list[str]
    table_path: Path


def batch(exporter: int, index: int, size: int) -> tuple[MetricsData, list[str]]:
    ids = [f"{exporter}-{index}-{point}-{uuid.uuid4().hex[:8]}" for point in range(size)]
    points = [NumberDataPoint(attributes={"point.id": point_id}, start_time_unix_nano=1,
                              time_unix_nano=1_700_000_000_000_000_000 + n, value=float(n))
              for n, point_id in enumerate(ids)]
    metric = Metric(name="load.gauge", description="", unit="1", data=Gauge(data_points=points))
    scope = ScopeMetrics(scope=InstrumentationScope("load"), metrics=[metric], schema_url="")
    resource = Resource.create({"service.name": f"exporter-{exporter}"})
    return MetricsData([ResourceMetrics(resource=resource, scope_metrics=[scope], schema_url="")]), ids


@pytest.fixture(scope="module")
def load_run(sink_engine: SinkEngine, tmp_path_factory: pytest.TempPathFactory) -> LoadRun:
    """Runs the load once per engine; the tests below judge what it left."""
    logging.getLogger("opentelemetry.exporter").setLevel(logging.CRITICAL)  # retries are expected
    load = LOADS[sink_engine.name]
    faults = SinkFaults(0.25, seed=7)
    acknowledged: list[str] = []
    failed_exports = 0
    lock = threading.Lock()
    tables_dir = tmp_path_factory.mktemp("load")
    # Compaction every few commits: the rows must survive maintenance racing the appends too.
    # An hour of log: the group-commit test reads every commit's metadata back from the log.
    maintenance = MaintenancePolicy(compact_every=3, log_retention_seconds=3600)
    with sink_engine.start_sink(tables_dir, "load", [TOKEN], faults=faults, maintenance=maintenance) as sink:
        table = sink.table_names["metrics"]

        def export(exporter_index: int) -> None:
            nonlocal failed_exports
            exporter = OTLPMetricExporter(
                endpoint=sink.endpoint("metrics"), timeout=30,
                compression=Compression.Gzip if exporter_index % 2 else Compression.NoCompression,
                headers={"content-type": "application/x-protobuf", "Authorization": f"Bearer {TOKEN}",
                         "X-Databricks-UC-Table-Name": str(table)})
            for index in range(load.batches):
                data, ids = batch(exporter_index, index, load.points)
                result = exporter.export(data)
                with lock:
                    if result is MetricExportResult.SUCCESS:
                        acknowledged.extend(ids)
                    else:
                        failed_exports += 1
            exporter.shutdown()

        threads = [threading.Thread(target=export, args=(i,)) for i in range(load.exporters)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(150)
        assert not any(thread.is_alive() for thread in threads)
        stored = [dict(row["gauge"]["attributes"])["point.id"] for row in sink.writer.read(table).to_pylist()]
    return LoadRun(load, acknowledged, failed_exports, faults.injected, stored,
                   tables_dir / table.catalog / table.schema / table.table)


def test_no_loss_and_no_duplicates_under_concurrency_and_faults(load_run: LoadRun) -> None:
    load = load_run.load
    assert load_run.injected > 0  # the retry path really ran
    assert len(load_run.stored) == len(set(load_run.stored)), "a retried export was stored twice"
    assert sorted(load_run.stored) == sorted(load_run.acknowledged)
    acknowledged_requests = len(load_run.acknowledged) // load.points
    assert acknowledged_requests + load_run.failed_exports == load.exporters * load.batches


# deltalake only: the Spark writer records no appends-per-commit metadata, and its grouping
# is proven deterministically in test_spark_engine.py::test_concurrent_appends_share_one_commit.
@pytest.mark.parametrize("sink_engine", ["deltalake"], indirect=True)
def test_concurrent_exports_share_delta_rs_commits(load_run: LoadRun) -> None:
    history = DeltaTable(str(load_run.table_path)).history()
    commits = [entry for entry in history if entry["operation"] == "WRITE"]
    acknowledged_requests = len(load_run.acknowledged) // load_run.load.points
    assert sum(int(commit[APPENDS_KEY]) for commit in commits) == acknowledged_requests
    assert len(commits) < acknowledged_requests
    assert any(entry["operation"] == "OPTIMIZE" for entry in history), "maintenance never ran during the load"
