"""The delta-rs writer: documented tables, group commit, the sliced-array trap, failures, close."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from gateway_conformance.otlp.signals import KINDS, SIGNALS
from gateway_conformance.tables import delta
from gateway_conformance.tables.delta import APPENDS_KEY, DeltaRsWriter, commit_batches, has_offsets
from gateway_conformance.tables.engines import make_writer
from gateway_conformance.tables.schema import arrow_schema
from gateway_conformance.tables.writer import TableInfo, TableName, UnknownTable, WriterOverloaded
from threads import call_concurrently

METRICS = TableName("main", "otel", "t_otel_metrics")


def metric_rows(names: list[str]) -> pa.Table:
    """Exponential-histogram rows: a list inside a struct inside a struct, the shape that trips delta-rs."""
    return pa.Table.from_pylist([
        {"name": name, "metric_type": "exponential_histogram", "metadata": [("k", name)],
         "exponential_histogram": {"count": 3, "scale": 2, "attributes": [("a", "1")],
                                   "positive_bucket": {"offset": 1, "bucket_counts": [1, 2]},
                                   "negative_bucket": {"offset": 0, "bucket_counts": []}}}
        for name in names], schema=arrow_schema("otel_metrics"))


@pytest.fixture
def writer(tmp_path: Path):
    writer = DeltaRsWriter(tmp_path)
    writer.create_table(METRICS, "otel_metrics")
    yield writer
    writer.close()


def write_commits(path: Path) -> list[dict]:
    return [entry for entry in DeltaTable(str(path)).history() if entry["operation"] == "WRITE"]


def test_tables_are_created_from_the_ddl_at_catalog_schema_table(tmp_path: Path) -> None:
    writer = DeltaRsWriter(tmp_path)
    try:
        for signal in SIGNALS:
            name = TableName("cat", "sch", f"p_{signal}")
            writer.create_table(name, KINDS[signal])
            writer.create_table(name, KINDS[signal])  # idempotent: no second commit
            table = DeltaTable(str(tmp_path / "cat" / "sch" / f"p_{signal}"))
            assert table.version() == 0
            assert table.metadata().configuration == {"otel.schemaVersion": "v1",
                                                      "delta.logRetentionDuration": "interval 10 seconds",
                                                      "delta.dataSkippingNumIndexedCols": "0"}
            assert pa.schema(table.schema().to_arrow()) == arrow_schema(KINDS[signal])
            assert writer.table_info(name) == TableInfo(KINDS[signal], {"otel.schemaVersion": "v1"})
            assert writer.read(name).schema == arrow_schema(KINDS[signal])
    finally:
        writer.close()


def test_table_info_tells_missing_foreign_and_other_version_tables(tmp_path: Path) -> None:
    writer = DeltaRsWriter(tmp_path)
    assert writer.table_info(TableName("main", "otel", "absent")) is None
    foreign = TableName("main", "otel", "foreign")
    write_deltalake(str(writer.table_path(foreign)), pa.table({"x": [1]}))
    assert writer.table_info(foreign) == TableInfo(None, {})
    v2 = TableName("main", "otel", "v2_otel_logs")
    DeltaTable.create(str(writer.table_path(v2)), arrow_schema("otel_logs"),
                      configuration={"otel.schemaVersion": "v2"}, raise_if_key_not_exists=False)
    assert writer.table_info(v2) == TableInfo("otel_logs", {"otel.schemaVersion": "v2"})
    retyped = TableName("main", "otel", "retyped")  # documented column names, one type changed
    schema = arrow_schema("otel_logs")
    index = schema.get_field_index("body")
    DeltaTable.create(str(writer.table_path(retyped)), schema.set(index, pa.field("body", pa.int64())))
    assert writer.table_info(retyped) == TableInfo(None, {})
    writer.close()


def test_rows_read_back_equal_rows_written(writer: DeltaRsWriter) -> None:
    rows = metric_rows([f"m{i}" for i in range(50)])
    writer.append(METRICS, rows)
    assert writer.read(METRICS).to_pylist() == rows.to_pylist()


def test_empty_append_makes_no_commit(writer: DeltaRsWriter) -> None:
    writer.append(METRICS, metric_rows([]))
    assert write_commits(writer.table_path(METRICS)) == []


def test_sliced_nested_rows_are_rebuilt_before_delta_rs_sees_them(tmp_path: Path) -> None:
    """Unprotected, delta-rs aborts the interpreter here; a child process keeps that contained."""
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_delta_writer import METRICS, metric_rows
from gateway_conformance.tables.delta import DeltaRsWriter
writer = DeltaRsWriter({str(tmp_path)!r})
writer.create_table(METRICS, "otel_metrics")
rows = metric_rows([f"m{{i}}" for i in range(30)])
writer.append(METRICS, rows.slice(10, 5))
writer.append(METRICS, __import__("pyarrow").concat_tables([rows.slice(0, 2), rows.slice(20, 3)]))
writer.close()
print(",".join(row["name"] for row in writer.read(METRICS).to_pylist()))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = ["m10", "m11", "m12", "m13", "m14", "m0", "m1", "m20", "m21", "m22"]
    assert sorted(done.stdout.strip().split(",")) == sorted(expected)


def test_slices_are_found_at_any_depth_and_rebuilt() -> None:
    rows = metric_rows([f"n{i}" for i in range(20)])
    column = rows.column("exponential_histogram").combine_chunks()
    assert not has_offsets(column)
    assert has_offsets(column.slice(10, 5))
    part = column.slice(10, 5)  # a struct at offset 0 whose children are slices
    nested = pa.StructArray.from_arrays([part.field(i) for i in range(part.type.num_fields)],
                                        fields=list(part.type))
    assert nested.offset == 0 and has_offsets(nested)
    map_slice = rows.column("metadata").combine_chunks().slice(3)
    assert has_offsets(pa.ListArray.from_arrays(pa.array([0, 1], pa.int32()), map_slice))  # sliced values
    fresh = pa.Table.from_pylist(rows.slice(10, 5).to_pylist(), schema=rows.schema)
    mixed = fresh.set_column(fresh.schema.get_field_index("exponential_histogram"),
                             fresh.schema.field("exponential_histogram"), nested)
    batches = commit_batches(rows.schema, [mixed, fresh])
    assert not any(has_offsets(column) for batch in batches for column in batch.columns)
    assert pa.Table.from_batches(batches).to_pylist() == mixed.to_pylist() + fresh.to_pylist()
    passed = commit_batches(rows.schema, [fresh])[0]  # fresh batches are not copied
    assert passed.column(0).buffers()[1].address == fresh.to_batches()[0].column(0).buffers()[1].address


def test_concurrent_appends_share_commits(writer: DeltaRsWriter) -> None:
    callers = 40
    start = threading.Barrier(callers)

    def append(index: int) -> None:
        start.wait()
        writer.append(METRICS, metric_rows([f"m{index}"]))

    call_concurrently(append, callers, join_seconds=60)
    assert sorted(row["name"] for row in writer.read(METRICS).to_pylist()) == sorted(
        f"m{i}" for i in range(callers))
    commits = write_commits(writer.table_path(METRICS))
    assert len(commits) < callers
    assert sum(int(commit[APPENDS_KEY]) for commit in commits) == callers


class _GatedWrite:
    """Replaces delta-rs's write: blocks until released, optionally fails, counts calls."""

    def __init__(self, fail: int = 0) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = fail
        self.calls = 0

    def __call__(self, *args: object, **kwargs: object) -> None:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(30)
        if self.fail:
            self.fail -= 1
            raise OSError("disk went away")
        write_deltalake(*args, **kwargs)  # type: ignore[arg-type]


def _in_thread(fn, *args) -> tuple[threading.Thread, list[BaseException]]:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn(*args)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_a_full_queue_refuses_instead_of_growing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = _GatedWrite()
    monkeypatch.setattr(delta, "write_deltalake", gate)
    writer = DeltaRsWriter(tmp_path, max_pending_rows=3)
    writer.create_table(METRICS, "otel_metrics")
    first, first_errors = _in_thread(writer.append, METRICS, metric_rows(["a", "b"]))
    assert gate.entered.wait(30)  # two rows are being committed, still counted as pending
    with pytest.raises(WriterOverloaded, match="limit 3"):
        writer.append(METRICS, metric_rows(["c", "d"]))
    gate.release.set()
    first.join(30)
    assert first_errors == []
    writer.append(METRICS, metric_rows(["c", "d"]))  # room again once committed
    writer.close()
    assert sorted(writer.read(METRICS).column("name").to_pylist()) == ["a", "b", "c", "d"]


def test_a_failed_commit_fails_its_callers_and_writes_nothing(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    gate = _GatedWrite(fail=1)
    gate.release.set()
    monkeypatch.setattr(delta, "write_deltalake", gate)
    writer = DeltaRsWriter(tmp_path)
    writer.create_table(METRICS, "otel_metrics")
    with pytest.raises(OSError, match="disk went away"):
        writer.append(METRICS, metric_rows(["lost"]))
    writer.append(METRICS, metric_rows(["kept"]))
    writer.close()
    assert writer.read(METRICS).column("name").to_pylist() == ["kept"]


def test_close_commits_what_is_pending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = _GatedWrite()
    monkeypatch.setattr(delta, "write_deltalake", gate)
    writer = DeltaRsWriter(tmp_path)
    writer.create_table(METRICS, "otel_metrics")
    first, first_errors = _in_thread(writer.append, METRICS, metric_rows(["first"]))
    assert gate.entered.wait(30)
    second, second_errors = _in_thread(writer.append, METRICS, metric_rows(["queued"]))
    closer, closer_errors = _in_thread(writer.close)
    gate.release.set()
    for thread in (first, second, closer):
        thread.join(30)
    assert first_errors == second_errors == closer_errors == []
    assert sorted(writer.read(METRICS).column("name").to_pylist()) == ["first", "queued"]
    with pytest.raises(RuntimeError, match="closed"):
        writer.append(METRICS, metric_rows(["late"]))


def test_bad_targets_and_rows_are_refused_before_queueing(writer: DeltaRsWriter) -> None:
    with pytest.raises(UnknownTable):
        writer.append(TableName("main", "otel", "nope"), metric_rows(["x"]))
    with pytest.raises(ValueError):  # pa.ArrowInvalid is one too
        writer.append(METRICS, pa.table({"name": ["x"]}))
    assert write_commits(writer.table_path(METRICS)) == []


def test_make_writer_picks_the_engine(tmp_path: Path) -> None:
    made = make_writer("deltalake", tmp_path, max_batch_rows=10)
    assert isinstance(made, DeltaRsWriter)
    made.close()
    with pytest.raises(ValueError, match="unknown delta engine 'duckdb'"):
        make_writer("duckdb", tmp_path)
