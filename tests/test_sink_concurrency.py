"""No loss, no duplicates: 16 concurrent SDK exporters against a sink that refuses at random.

Each data point carries a unique ``point.id``. The sink injects 503s (before the commit);
the OpenTelemetry exporters retry them as the OTLP spec says. Afterwards the Delta table
must hold exactly the points whose export the SDK saw acknowledged, each once, and the
commits must be fewer than the acknowledged requests (group commit).
"""

from __future__ import annotations

import logging
import threading
import uuid
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

from gateway_conformance.otlp.delta import APPENDS_KEY
from gateway_conformance.otlp.sink import SinkFaults, start_sink

TOKEN = "gc-test-concurrency-token"
EXPORTERS = 16
BATCHES = 8
POINTS = 40


def batch(exporter: int, index: int) -> tuple[MetricsData, list[str]]:
    ids = [f"{exporter}-{index}-{point}-{uuid.uuid4().hex[:8]}" for point in range(POINTS)]
    points = [NumberDataPoint(attributes={"point.id": point_id}, start_time_unix_nano=1,
                              time_unix_nano=1_700_000_000_000_000_000 + n, value=float(n))
              for n, point_id in enumerate(ids)]
    metric = Metric(name="load.gauge", description="", unit="1", data=Gauge(data_points=points))
    scope = ScopeMetrics(scope=InstrumentationScope("load"), metrics=[metric], schema_url="")
    resource = Resource.create({"service.name": f"exporter-{exporter}"})
    return MetricsData([ResourceMetrics(resource=resource, scope_metrics=[scope], schema_url="")]), ids


@pytest.mark.timeout(180)
def test_no_loss_and_no_duplicates_under_concurrency_and_faults(tmp_path: Path) -> None:
    logging.getLogger("opentelemetry.exporter").setLevel(logging.CRITICAL)  # retries are expected
    faults = SinkFaults(0.25, seed=7)
    acknowledged: list[str] = []
    failed_exports = 0
    lock = threading.Lock()
    with start_sink(tmp_path, "load", [TOKEN], faults=faults) as sink:
        table = sink.table_names["metrics"]

        def export(exporter_index: int) -> None:
            nonlocal failed_exports
            exporter = OTLPMetricExporter(
                endpoint=sink.endpoint("metrics"), timeout=30,
                compression=Compression.Gzip if exporter_index % 2 else Compression.NoCompression,
                headers={"content-type": "application/x-protobuf", "Authorization": f"Bearer {TOKEN}",
                         "X-Databricks-UC-Table-Name": str(table)})
            for index in range(BATCHES):
                data, ids = batch(exporter_index, index)
                result = exporter.export(data)
                with lock:
                    if result is MetricExportResult.SUCCESS:
                        acknowledged.extend(ids)
                    else:
                        failed_exports += 1
            exporter.shutdown()

        threads = [threading.Thread(target=export, args=(i,)) for i in range(EXPORTERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(150)
        assert not any(thread.is_alive() for thread in threads)
        stored = [dict(row["gauge"]["attributes"])["point.id"] for row in sink.writer.read(table).to_pylist()]
        history = DeltaTable(str(sink.tables_dir / "main" / "otel" / table.table)).history()
        commits = [entry for entry in history if entry["operation"] == "WRITE"]

    assert faults.injected > 0  # the retry path really ran
    assert len(stored) == len(set(stored)), "a retried export was stored twice"
    assert sorted(stored) == sorted(acknowledged)
    acknowledged_requests = len(acknowledged) // POINTS
    assert acknowledged_requests + failed_exports == EXPORTERS * BATCHES
    assert sum(int(commit[APPENDS_KEY]) for commit in commits) == acknowledged_requests
    assert len(commits) < acknowledged_requests
