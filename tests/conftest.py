"""The Delta engines the sink's own tests run on: every sink test that writes tables runs on each.

Issue 4 asks the Spark engine to pass the same sink tests as deltalake (bad input, no
loss), so the engine is a fixture parameter rather than a second copy of the tests. The
``spark`` parameter borrows the test session's one Spark session and carries the ``spark``
mark, so ``-m "not gwc_spark"`` runs the deltalake half alone.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway_conformance.otlp.sink import SinkHandle, start_sink
from gateway_conformance.tables.engines import make_writer
from gateway_conformance.tables.writer import DeltaWriter


@dataclass(frozen=True)
class SinkEngine:
    """An engine for ``start_sink``/``make_writer``, with the options it needs (a borrowed session)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def start_sink(self, tables_dir: Path, table_prefix: str, tokens: Iterable[str],
                   **kwargs: Any) -> SinkHandle:
        return start_sink(tables_dir, table_prefix, tokens, engine=self.name, **self.options, **kwargs)

    def writer(self, tables_dir: Path) -> DeltaWriter:
        return make_writer(self.name, tables_dir, **self.options)


@pytest.fixture(scope="module", params=["deltalake", pytest.param("spark", marks=pytest.mark.gwc_spark)])
def sink_engine(request: pytest.FixtureRequest) -> SinkEngine:
    """Module-scoped so pytest groups a module's tests by engine: one sink per engine, not per test.

    Spark needs the local session (``gwc_local_spark``): these tests read the sink's tables as
    files under their own temporary folder, which a Spark Connect server does not share.
    """
    if request.param == "spark":
        return SinkEngine("spark", {"spark": request.getfixturevalue("gwc_local_spark")})
    return SinkEngine(request.param)


@pytest.fixture
def spark_connect_url(gwc_local_spark) -> Iterator[str]:
    """``sc://127.0.0.1:PORT`` of a Spark Connect server started on the local session's JVM.

    The same code path as ``--spark-remote sc://...`` against a cluster (the server owns the
    tables it creates: managed tables), without a second JVM.
    """
    pytest.importorskip("grpc", reason="Spark Connect needs pyspark[connect] (grpcio)")
    jvm = gwc_local_spark.sparkContext._jvm
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = jvm.org.apache.spark.SparkEnv.get().conf()
    conf.set("spark.connect.grpc.binding.address", "127.0.0.1")
    conf.set("spark.connect.grpc.binding.port", str(port))
    service = jvm.org.apache.spark.sql.connect.service.SparkConnectService
    service.start(gwc_local_spark.sparkContext._jsc.sc())
    yield f"sc://127.0.0.1:{port}"
    service.stop(jvm.scala.Option.empty(), jvm.scala.Option.empty())
