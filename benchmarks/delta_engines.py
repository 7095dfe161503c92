"""The Spark engine beside the deltalake engine: start-up time and append rows/s, as ratios.

Both writers append the same mapped OTLP rows (Claude Code shaped metrics, every point
kind) into tables created from the documented DDL, in the same run, so the ratios carry
across machines. Two append shapes: a few large appends (a replay), and many small
concurrent appends (live exporters, where grouped commits matter).

Start-up is from nothing to the first table created from the DDL, cold in this process
(for Spark: JVM, Ivy resolution from the local cache, session, DDL); run the script once
before if the Delta jars are not yet in ``~/.ivy2*``.

Run: ``.venv/bin/python benchmarks/delta_engines.py [--rows N] [--batches B] [--small S]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa

from gateway_conformance.otlp.rows import map_metrics
from gateway_conformance.tables.delta import DeltaRsWriter
from gateway_conformance.tables.writer import DeltaWriter, TableName
from otlp_ingest import claude_code_metrics


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _rows(points: int) -> pa.Table:
    return map_metrics(claude_code_metrics(points, mixed=True)).table


def bench_writer(writer: DeltaWriter, big: pa.Table, batches: int, small: pa.Table, appends: int,
                 threads: int) -> dict[str, float]:
    """Seconds to create a (second) table, and rows/s of large sequential and small concurrent appends."""
    results: dict[str, float] = {}
    replay, live = (TableName("bench", "otel", f"{use}_otel_metrics") for use in ("replay", "live"))
    results["create_s"] = _timed(lambda: writer.create_table(replay, "otel_metrics"))
    writer.append(replay, big)  # warm-up: first commit pays class loading / file creation
    seconds = _timed(lambda: [writer.append(replay, big) for _ in range(batches)])
    results["large_rows_per_s"] = big.num_rows * batches / seconds
    with ThreadPoolExecutor(threads) as pool:
        seconds = _timed(lambda: list(pool.map(lambda _: writer.append(live, small), range(appends))))
    results["small_rows_per_s"] = small.num_rows * appends / seconds
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per large append")
    parser.add_argument("--batches", type=int, default=3, help="large appends, one after another")
    parser.add_argument("--small", type=int, default=40, help="small appends (100 rows each), 8 threads")
    args = parser.parse_args(argv)
    big, small = _rows(args.rows), _rows(100)
    with tempfile.TemporaryDirectory(prefix="delta-engines-") as root:
        start = time.perf_counter()
        rs = DeltaRsWriter(Path(root) / "deltalake")
        rs.create_table(TableName("bench", "otel", "live_otel_metrics"), "otel_metrics")
        rs_start = time.perf_counter() - start
        rs_results = bench_writer(rs, big, args.batches, small, args.small, 8)
        rs.close()

        from gateway_conformance.tables.spark import SparkDeltaWriter, spark_session

        start = time.perf_counter()
        spark = spark_session(warehouse_dir=Path(root) / "warehouse")
        writer = SparkDeltaWriter(Path(root) / "spark", spark=spark)
        writer.create_table(TableName("bench", "otel", "live_otel_metrics"), "otel_metrics")
        spark_start = time.perf_counter() - start
        spark_results = bench_writer(writer, big, args.batches, small, args.small, 8)
        writer.close()
        spark.stop()

    print(f"{'':28}{'deltalake':>12}{'spark':>12}{'spark/deltalake':>18}")
    ratio = spark_start / rs_start
    print(f"{'start-up to 1st table (s)':28}{rs_start:12.3f}{spark_start:12.2f}{ratio:17.0f}x")
    for key, label in (("create_s", "create table (s)"),
                       ("large_rows_per_s", f"rows/s, {args.rows}-row appends"),
                       ("small_rows_per_s", f"rows/s, {args.small}x100 rows, 8 thr")):
        a, b = rs_results[key], spark_results[key]
        print(f"{label:28}{a:12.0f}{b:12.0f}{b / a:17.2f}x" if "rows" in key else
              f"{label:28}{a:12.3f}{b:12.2f}{b / a:17.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
