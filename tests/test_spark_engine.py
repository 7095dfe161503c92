"""The Spark engine: the documented DDL run verbatim by Spark SQL, Delta's schema enforcement,
grouped commits, names in a one-part-namespace catalog, and the sink's conformance suite on Spark.

All tests share the test session's one Spark session (the ``spark`` fixture).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from gateway_conformance.otlp.signals import KINDS, SIGNALS
from gateway_conformance.resources import suite_dir
from gateway_conformance.tables.engines import make_writer
from gateway_conformance.tables.schema import arrow_schema, ddl, ddl_with_name, default_table
from gateway_conformance.tables.spark import SparkDeltaWriter, flat_namespace
from gateway_conformance.tables.writer import (
    SchemaMismatch,
    TableInfo,
    TableName,
    UnknownTable,
    WriterOverloaded,
)

pytestmark = pytest.mark.gwc_spark
pytest_plugins = ["pytester"]

LOGS = TableName("main", "otel", "t_otel_logs")
METRICS = TableName("main", "otel", "t_otel_metrics")


@pytest.fixture
def writer(gwc_local_spark, tmp_path: Path):
    writer = SparkDeltaWriter(tmp_path, spark=gwc_local_spark)
    yield writer
    writer.close()


def log_rows(bodies: list[str]) -> pa.Table:
    return pa.Table.from_pylist([{"body": body, "severity_number": "SEVERITY_NUMBER_INFO", "flags": 1,
                                  "attributes": [("k", body)],
                                  "resource": {"attributes": [("service.name", "svc")],
                                               "dropped_attributes_count": 0}}
                                 for body in bodies], schema=arrow_schema("otel_logs"))


def metric_rows(names: list[str]) -> pa.Table:
    """Exponential-histogram rows: lists and maps inside structs inside structs."""
    return pa.Table.from_pylist([
        {"name": name, "metric_type": "exponential_histogram", "metadata": [("k", name)],
         "exponential_histogram": {"count": 3, "scale": 2, "attributes": [("a", "1")],
                                   "positive_bucket": {"offset": 1, "bucket_counts": [1, 2]},
                                   "negative_bucket": {"offset": 0, "bucket_counts": []},
                                   "exemplars": [{"value": 1.5, "filtered_attributes": [("x", "y")]}]}}
        for name in names], schema=arrow_schema("otel_metrics"))


def commits(path: Path) -> list[dict]:
    """The commitInfo of every WRITE in the Delta log, oldest first."""
    found = []
    for entry in sorted((path / "_delta_log").glob("*.json")):
        for line in entry.read_text().splitlines():
            info = json.loads(line).get("commitInfo")
            if info and info["operation"] == "WRITE":
                found.append(info)
    return found


def test_the_ddl_substitution_touches_only_the_table_name() -> None:
    for signal in SIGNALS:
        name = default_table(KINDS[signal], "cat", "sch", "pre")
        assert ddl_with_name(KINDS[signal], str(name)) == ddl(KINDS[signal], "cat", "sch", "pre")


def test_documented_ddl_runs_in_spark_with_schema_version_v1(writer: SparkDeltaWriter,
                                                             gwc_local_spark) -> None:
    for signal in SIGNALS:
        name = default_table(KINDS[signal], "main", "otel", "ddl")
        writer.create_table(name, KINDS[signal])
        writer.create_table(name, KINDS[signal])  # idempotent
        shown = {row["key"]: row["value"] for row in
                 gwc_local_spark.sql(f"SHOW TBLPROPERTIES main__otel.{name.table}").collect()}
        assert shown["otel.schemaVersion"] == "v1"
        assert writer.table_info(name) == TableInfo(KINDS[signal], {"otel.schemaVersion": "v1"})
        assert writer.read(name).schema == arrow_schema(KINDS[signal])
        versions = sorted((writer.table_path(name) / "_delta_log").glob("*.json"))
        assert [path.name for path in versions] == ["00000000000000000000.json"]
        created = json.loads(versions[0].read_text().splitlines()[0])["commitInfo"]
        assert created["operation"] == "CREATE TABLE"


def test_three_part_names_map_to_a_one_part_namespace(writer: SparkDeltaWriter, gwc_local_spark) -> None:
    name = TableName("Cat_1", "sch", "x_otel_logs")
    writer.create_table(name, "otel_logs")
    assert flat_namespace(name) == "Cat_1__sch"
    assert writer.identifier(name) == "Cat_1__sch.x_otel_logs"
    detail = gwc_local_spark.sql("DESCRIBE TABLE EXTENDED Cat_1__sch.x_otel_logs").collect()
    info = {row["col_name"]: row["data_type"] for row in detail}
    assert info["Type"] == "EXTERNAL"
    assert Path(info["Location"].removeprefix("file:")) == writer.tables_dir / "Cat_1" / "sch" / "x_otel_logs"
    with pytest.raises(Exception, match="REQUIRES_SINGLE_PART_NAMESPACE"):
        gwc_local_spark.sql("SELECT * FROM spark_catalog.Cat_1.sch.x_otel_logs").collect()


def test_rows_append_after_the_commit_and_read_back(writer: SparkDeltaWriter) -> None:
    writer.create_table(METRICS, "otel_metrics")
    rows = metric_rows(["a", "b", "c"])
    writer.append(METRICS, rows)
    assert len(commits(writer.table_path(METRICS))) == 1  # committed when append returned
    assert sorted(writer.read(METRICS).to_pylist(), key=lambda row: row["name"]) == rows.to_pylist()
    writer.append(METRICS, metric_rows([]))  # nothing to write, no commit
    assert len(commits(writer.table_path(METRICS))) == 1


def test_delta_schema_enforcement_refuses_casts_and_extra_columns(writer: SparkDeltaWriter) -> None:
    writer.create_table(LOGS, "otel_logs")
    schema = arrow_schema("otel_logs")
    index = schema.get_field_index("flags")
    widened = pa.Table.from_pylist([{"body": "x", "flags": 5}],
                                   schema=schema.set(index, pa.field("flags", pa.int64())))
    with pytest.raises(Exception, match="DELTA_FAILED_TO_MERGE_FIELDS"):  # INT column, LONG data: no cast
        writer.append(LOGS, widened)
    extra = log_rows(["y"]).append_column("surprise", pa.array([1], pa.int32()))
    with pytest.raises(Exception, match="DELTA_METADATA_MISMATCH"):  # no mergeSchema
        writer.append(LOGS, extra)
    assert commits(writer.table_path(LOGS)) == []
    assert writer.read(LOGS).num_rows == 0
    writer.append(LOGS, log_rows(["ok"]))  # the writer still works after refusals
    assert [row["body"] for row in writer.read(LOGS).to_pylist()] == ["ok"]


def test_concurrent_appends_share_one_commit(writer: SparkDeltaWriter,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """While one commit runs, five appends queue; the next commit takes all five (the shared
    group commit of :mod:`gateway_conformance.tables.commits`)."""
    writer.create_table(LOGS, "otel_logs")
    real_commit, release = writer._commit, threading.Event()

    def gated(name: TableName, tables: list[pa.Table]) -> None:
        assert release.wait(60)
        real_commit(name, tables)

    monkeypatch.setattr(writer, "_commit", gated)
    errors: list[BaseException] = []

    def append(body: str) -> None:
        try:
            writer.append(LOGS, log_rows([body]))
        except BaseException as error:
            errors.append(error)

    first = threading.Thread(target=append, args=("first",))
    first.start()
    deadline = time.monotonic() + 30
    while writer._group(LOGS).pending() != (0, 1) and time.monotonic() < deadline:
        time.sleep(0.01)  # "first" is being committed (held at the gate)
    threads = [threading.Thread(target=append, args=(f"r{index}",)) for index in range(5)]
    for thread in threads:
        thread.start()
    while writer._group(LOGS).pending() != (5, 6) and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in [first, *threads]:
        thread.join(60)
    assert errors == []
    assert len(commits(writer.table_path(LOGS))) == 2
    assert sorted(row["body"] for row in writer.read(LOGS).to_pylist()) == sorted(
        ["first", *(f"r{index}" for index in range(5))])


def test_a_full_queue_refuses_instead_of_growing(gwc_local_spark, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The Spark engine sheds load like delta-rs: past ``max_pending_rows``, WriterOverloaded."""
    writer = SparkDeltaWriter(tmp_path, spark=gwc_local_spark, max_pending_rows=3)
    writer.create_table(LOGS, "otel_logs")
    real_commit, entered, release = writer._commit, threading.Event(), threading.Event()

    def gated(name: TableName, tables: list[pa.Table]) -> None:
        entered.set()
        assert release.wait(60)
        real_commit(name, tables)

    monkeypatch.setattr(writer, "_commit", gated)
    first = threading.Thread(target=writer.append, args=(LOGS, log_rows(["a", "b"])))
    first.start()
    assert entered.wait(30)
    with pytest.raises(WriterOverloaded, match="limit 3"):
        writer.append(LOGS, log_rows(["c", "d"]))
    release.set()
    first.join(60)
    writer.append(LOGS, log_rows(["c", "d"]))
    writer.close()
    assert sorted(row["body"] for row in writer.read(LOGS).to_pylist()) == ["a", "b", "c", "d"]


def test_table_info_tells_missing_foreign_and_other_version_tables(writer: SparkDeltaWriter,
                                                                     gwc_local_spark) -> None:
    assert writer.table_info(TableName("main", "otel", "absent")) is None
    foreign = TableName("main", "otel", "foreign")
    gwc_local_spark.sql(f"CREATE TABLE delta.`{writer.table_path(foreign)}` (x INT) USING DELTA")
    assert writer.table_info(foreign) == TableInfo(None, {})
    v2 = TableName("main", "otel", "v2_otel_logs")
    gwc_local_spark.sql(ddl_with_name("otel_logs", f"delta.`{writer.table_path(v2)}`").replace("'v1'",
                                                                                               "'v2'"))
    assert writer.table_info(v2) == TableInfo("otel_logs", {"otel.schemaVersion": "v2"})


def test_unknown_tables_are_refused(writer: SparkDeltaWriter) -> None:
    with pytest.raises(UnknownTable):
        writer.append(TableName("main", "otel", "nope"), log_rows(["x"]))
    with pytest.raises(UnknownTable):
        writer.read(TableName("main", "otel", "nope"))


def test_a_name_left_by_an_earlier_writer_is_repointed_keeping_its_data(gwc_local_spark,
                                                                        tmp_path: Path) -> None:
    first = SparkDeltaWriter(tmp_path / "first", spark=gwc_local_spark)
    first.create_table(LOGS, "otel_logs")
    first.append(LOGS, log_rows(["first"]))
    second = SparkDeltaWriter(tmp_path / "second", spark=gwc_local_spark)
    second.create_table(LOGS, "otel_logs")
    second.append(LOGS, log_rows(["second"]))
    by_name = [row["body"] for row in gwc_local_spark.table(second.identifier(LOGS)).collect()]
    assert by_name == ["second"]
    assert [row["body"] for row in first.read(LOGS).to_pylist()] == ["first"]


def test_make_writer_builds_the_spark_engine(gwc_local_spark, tmp_path: Path) -> None:
    made = make_writer("spark", tmp_path, spark=gwc_local_spark)
    assert isinstance(made, SparkDeltaWriter)
    made.close()
    assert gwc_local_spark.sql("SELECT 1 AS one").collect()[0]["one"] == 1  # a borrowed session stays up


def test_the_sink_conformance_suite_passes_on_the_spark_engine(pytester: pytest.Pytester,
                                                               gwc_local_spark) -> None:
    """The shipped OTLP conformance tests (SDK exporters; valid, gzip, empty and JSON exports;
    invalid protobuf and JSON), run in this process so they reuse this Spark session.

    The full bad-input matrix and the no-loss test under concurrency and faults run on Spark
    through the ``sink_engine`` parameter of tests/test_sink.py and tests/test_sink_concurrency.py.
    """
    patterns = ("test*otlp*.py", "test*sink*.py")
    suite = sorted({str(path) for pattern in patterns for path in suite_dir().glob(pattern)})
    assert suite, "no OTLP conformance tests found"
    prefix = "spark_conformance"
    result = pytester.runpytest_inprocess("--conformance", "--delta-engine=spark", f"--table-prefix={prefix}",
                                          "-p", "no:cacheprovider", *suite)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 0
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()[-3000:]
    # The sink's tables were created by the Spark writer: registered in this session's catalog.
    for signal in SIGNALS:
        assert gwc_local_spark.catalog.tableExists(f"main__otel.{prefix}_otel_{signal}")


@pytest.fixture
def connect_session(spark_connect_url: str) -> Iterator:
    """A Spark Connect client of the Connect server on this session's JVM (tests/conftest.py)."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    client = ConnectSession.builder.remote(spark_connect_url).create()
    yield client
    client.stop()


def test_spark_connect_creates_appends_and_enforces_by_name(connect_session, gwc_local_spark,
                                                            tmp_path: Path) -> None:
    writer = SparkDeltaWriter(tmp_path, spark=connect_session)
    assert writer.remote
    name = TableName("main", "otel", "remote_otel_logs")
    writer.create_table(name, "otel_logs")
    assert writer.identifier(name) == "main__otel.remote_otel_logs"  # the server knows no catalog `main`
    assert writer.table_info(name) == TableInfo("otel_logs", {"otel.schemaVersion": "v1"})
    writer.append(name, log_rows(["over", "grpc"]))
    assert sorted(row["body"] for row in writer.read(name).to_pylist()) == ["grpc", "over"]
    schema = arrow_schema("otel_logs")
    widened = log_rows(["x"]).cast(schema.set(schema.get_field_index("flags"), pa.field("flags", pa.int64())))
    with pytest.raises(SchemaMismatch, match="flags:bigint"):  # a by-name insert would cast: refused first
        writer.append(name, widened)
    info = {row["col_name"]: row["data_type"] for row in
            gwc_local_spark.sql("DESCRIBE TABLE EXTENDED main__otel.remote_otel_logs").collect()}
    assert info["Type"] == "MANAGED"  # the server owns the storage
    assert not (tmp_path / "main").exists()
    assert len(writer.read(name)) == 2


@pytest.mark.parametrize("leftover", ["empty", "temp-file"])
def test_a_table_half_created_by_a_killed_serve_is_created_again(writer: SparkDeltaWriter,
                                                                  leftover: str) -> None:
    """Issue 14 item 5: SIGKILL while Spark first creates a table leaves ``_delta_log/`` without
    a commit, and every later start failed with TABLE_OR_VIEW_ALREADY_EXISTS. A log without a
    commit or checkpoint holds no table, so the writer creates it anew (as delta-rs does)."""
    name = TableName("main", "otel", "half_otel_logs")
    log = writer.table_path(name) / "_delta_log"
    log.mkdir(parents=True)
    if leftover == "temp-file":
        (log / ".00000000000000000000.json.tmp").write_text("{}")  # a commit that never landed
    writer.create_table(name, "otel_logs")
    assert writer.table_info(name) == TableInfo("otel_logs", {"otel.schemaVersion": "v1"})
    writer.append(name, log_rows(["after recovery"]))
    assert [row["body"] for row in writer.read(name).to_pylist()] == ["after recovery"]
