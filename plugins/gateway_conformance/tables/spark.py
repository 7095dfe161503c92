"""The Spark engine: the documented DDL run by Spark SQL with delta-spark, appends judged by Delta.

Why a second engine: Databricks is Spark. Letting Spark create the tables from the
documented DDL and letting Delta's schema enforcement accept or reject the sink's rows is
the strongest check that the mapping fits the documented tables, and the same writer
replays telemetry on a cluster through Spark Connect.

Names and places (see docs/spark-engine.md):

- Local session (``local[2]``): a table ``catalog.schema.table`` lives at
  ``<tables_dir>/<catalog>/<schema>/<table>``, the delta-rs writer's layout, so both engines
  open the same tables. The DDL runs verbatim with its one placeholder-bearing name,
  ``<catalog>.<schema>.<table_prefix>_otel_x``, replaced by that path (``delta.`<path>```).
  The table is then registered in the session catalog as the *external* table
  ``<catalog>__<schema>.<table>``: ``spark_catalog`` takes only one-part namespaces
  (``main.otel.t`` is refused), and delta-spark's catalog cannot be registered under a
  second name. External, because the in-memory catalog outlives a writer when a test
  session shares one Spark session: an entry left by an earlier writer is re-pointed by
  dropping it, and dropping an external table never deletes data.
- Spark Connect (``sc://...``): the server owns the storage. If it knows a catalog named
  ``<catalog>`` (Unity Catalog on Databricks, or one configured on the server) the name is
  used verbatim; otherwise it maps to ``<catalog>__<schema>.<table>`` as above. Tables are
  managed by the server; the DDL runs with the name substituted, nothing else.

Appends: ``createDataFrame(pyarrow.Table)`` takes its StructType from the Arrow schema (no
target schema is imposed, so nothing is cast), and the write is a Delta append with no
``mergeSchema``: Delta's own schema enforcement refuses a wrong type or an extra column
(a Spark ``INSERT``/``saveAsTable`` would instead cast to the table's types silently).
Locally the append goes to the table's path; remotely a cluster may refuse path writes
(Unity Catalog managed tables), so the rows must first match the table's StructType exactly
and are then appended by name.

Concurrent appends to one table are grouped by :mod:`gateway_conformance.tables.commits`,
the delta-rs writer's mechanism with the same pending-rows limit: one Spark commit costs
~0.3-0.5 s whatever its size on 2 cores, so each commit takes everything queued meanwhile.
Maintenance (:mod:`gateway_conformance.tables.maintenance`) runs ``OPTIMIZE`` (and now and
then ``VACUUM``) in a background thread of the same session; Delta's own checkpoints (every
10 commits) and log cleanup stay on.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from gateway_conformance.tables.commits import CommitLimits, GroupCommit
from gateway_conformance.tables.maintenance import Maintainer, MaintenancePolicy
from gateway_conformance.tables.schema import ddl_with_name, declared_properties, infer_kind
from gateway_conformance.tables.writer import SchemaMismatch, TableInfo, TableName, UnknownTable

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

#: Settings of the local session. Start-up on 2 cores: ~9-11 s by default, ~7 s with these.
LOCAL_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    # Delta reads its log with 50 tasks by default; 2 keeps small-table commits fast.
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
    # Loopback only: the sandbox's network is 127.0.0.1.
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

_lock = threading.Lock()


def _session_class() -> type[SparkSession]:
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise ImportError("the spark engine needs pyspark and delta-spark: "
                          "pip install 'gateway-conformance[spark]' (and Java 17)") from error
    return SparkSession


def spark_session(*, remote: str | None = None, warehouse_dir: Path | str | None = None,
                  app_name: str = "gateway-conformance") -> SparkSession:
    """The process's Spark session: a tuned ``local[2]`` one with delta-spark, or Spark Connect.

    Locally the Delta jars are resolved by delta-spark's own mechanism
    (``configure_spark_with_delta_pip``: Ivy, from Maven Central, cached in ``~/.ivy2*``).
    Like ``getOrCreate`` it returns the running session if there is one: static settings
    (the warehouse directory) come from the first call.
    """
    builder = _session_class().builder
    with _lock:
        if remote is not None:
            return builder.remote(remote).appName(app_name).getOrCreate()
        from delta import configure_spark_with_delta_pip

        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.master("local[2]").appName(app_name)
        for key, value in LOCAL_CONF.items():
            builder = builder.config(key, value)
        if warehouse_dir is not None:
            builder = builder.config("spark.sql.warehouse.dir", str(Path(warehouse_dir).resolve()))
        session = configure_spark_with_delta_pip(builder).getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        return session


def is_connect(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect session (no local JVM, no driver file system)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def flat_namespace(name: TableName) -> str:
    """The one-part namespace ``<catalog>__<schema>`` a session catalog holds ``name`` in."""
    return f"{name.catalog}__{name.schema}"


def _quote(identifier: str) -> str:
    return ".".join(f"`{part}`" for part in identifier.split("."))


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def arrow_of(struct: StructType) -> pa.Schema:
    """The Arrow schema Spark reads a StructType as (strings not large, maps with non-null keys)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(struct, timezone="UTC")


def _holds_a_table(log: Path) -> bool:
    """Whether a ``_delta_log`` folder holds a table: a commit or a checkpoint (once old log
    entries are cleaned up, a checkpoint may be all that is left of the early versions)."""
    return log.is_dir() and any(path.name.endswith(".json") or ".checkpoint" in path.name
                                for path in log.iterdir())


def _clear_half_created(log: Path) -> None:
    """Remove a ``_delta_log`` left without any commit (issue 14 item 5).

    A ``serve --engine spark`` killed while Spark ran the first ``CREATE TABLE`` leaves the
    folder, and Spark takes any ``_delta_log`` folder for a table: every later start failed
    with TABLE_OR_VIEW_ALREADY_EXISTS. Without a commit there is no table and no row, so the
    folder (empty, or holding a commit's unfinished temporary file) is removed and the table
    created anew, as delta-rs does on its own.
    """
    if log.is_dir() and not _holds_a_table(log):
        shutil.rmtree(log)


class SparkDeltaWriter:
    """:class:`~gateway_conformance.tables.writer.DeltaWriter` on Spark + delta-spark.

    ``spark`` is borrowed (a test session's, typically) and never stopped here; without it
    the writer gets the process's session from :func:`spark_session` (``remote`` for Spark
    Connect) and stops it on :meth:`close` if it started it.
    """

    def __init__(self, tables_dir: Path | str, *, spark: SparkSession | None = None,
                 remote: str | None = None, max_batch_rows: int = 250_000,
                 max_pending_rows: int = 1_000_000, maintenance: MaintenancePolicy | None = None,
                 max_linger_seconds: float = CommitLimits.max_linger_seconds) -> None:
        self.tables_dir = Path(tables_dir).resolve()
        if spark is None:
            started = _session_class().getActiveSession() is None
            spark = spark_session(remote=remote, warehouse_dir=self.tables_dir / "_spark_warehouse")
            self._owns_session = started
        else:
            self._owns_session = False
        self.spark = spark
        self.remote = is_connect(spark)
        self._catalogs: set[str] | None = None
        self._registered: set[TableName] = set()
        self._limits = CommitLimits(max_batch_rows=max_batch_rows, max_pending_rows=max_pending_rows,
                                   max_linger_seconds=max_linger_seconds)
        self.maintenance = maintenance or MaintenancePolicy()
        self._commits: dict[TableName, GroupCommit] = {}
        self._maintainers: list[Maintainer] = []
        self._table_locks: dict[TableName, threading.Lock] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- names ---------------------------------------------------------------------------

    def table_path(self, name: TableName) -> Path:
        """Where a local session keeps ``name``: the delta-rs writer's layout."""
        return self.tables_dir / name.catalog / name.schema / name.table

    def identifier(self, name: TableName) -> str:
        """The Spark SQL name of ``name``: verbatim if the session knows its catalog, else flattened."""
        if self.remote and name.catalog in self._known_catalogs():
            return str(name)
        return f"{flat_namespace(name)}.{name.table}"

    def _known_catalogs(self) -> set[str]:
        if self._catalogs is None:
            self._catalogs = {catalog.name for catalog in self.spark.catalog.listCatalogs()}
        return self._catalogs

    def _path_sql(self, name: TableName) -> str:
        return f"delta.`{self.table_path(name)}`"

    def _source(self, name: TableName) -> str:
        """What SQL reads ``name`` through: its path locally, its name remotely."""
        return self._path_sql(name) if not self.remote else _quote(self.identifier(name))

    def _exists(self, name: TableName) -> bool:
        if self.remote:
            return bool(self.spark.catalog.tableExists(self.identifier(name)))
        return _holds_a_table(self.table_path(name) / "_delta_log")

    # -- DeltaWriter ---------------------------------------------------------------------

    def create_table(self, name: TableName, kind: str) -> None:
        with self._table_lock(name):
            if not self._exists(name):
                if self.remote:
                    namespace = self.identifier(name).rsplit(".", 1)[0]
                    self.spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {_quote(namespace)}")
                    self.spark.sql(ddl_with_name(kind, _quote(self.identifier(name))))
                else:
                    self.table_path(name).parent.mkdir(parents=True, exist_ok=True)
                    _clear_half_created(self.table_path(name) / "_delta_log")
                    self.spark.sql(ddl_with_name(kind, self._path_sql(name)))
            self._register(name)

    def table_info(self, name: TableName) -> TableInfo | None:
        if not self._exists(name):
            return None
        self._register(name)
        kind = infer_kind(arrow_of(self._struct(name)))
        return TableInfo(kind, declared_properties(kind, self.properties(name)))

    def append(self, name: TableName, rows: pa.Table) -> None:
        if rows.num_rows == 0:
            return
        self._group(name).submit(rows).result()

    def read(self, name: TableName) -> pa.Table:
        if not self._exists(name):
            raise UnknownTable(f"no Delta table {name} ({self._source(name)})")
        return self._frame(name).toArrow()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            groups = list(self._commits.values())
        for group in groups:
            group.close()
        for maintainer in self._maintainers:
            maintainer.close()
        if self._owns_session:
            self._owns_session = False
            self.spark.stop()

    # -- Spark-specific ------------------------------------------------------------------

    def properties(self, name: TableName) -> dict[str, str]:
        """The table's ``TBLPROPERTIES`` as ``SHOW TBLPROPERTIES`` lists them."""
        rows = self.spark.sql(f"SHOW TBLPROPERTIES {self._source(name)}").collect()
        return {row["key"]: row["value"] for row in rows}

    def delta_schema_json(self, name: TableName) -> str:
        """The StructType Spark holds for the table, as the JSON the Delta log's schemaString uses."""
        return self._struct(name).json()

    def _struct(self, name: TableName) -> StructType:
        return self._frame(name).schema

    def _frame(self, name: TableName) -> DataFrame:
        if self.remote:
            return self.spark.table(self.identifier(name))
        return self.spark.read.format("delta").load(str(self.table_path(name)))

    def _group(self, name: TableName) -> GroupCommit:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"writer for {self.tables_dir} is closed")
            group = self._commits.get(name)
        if group is not None:
            return group
        if not self._exists(name):
            raise UnknownTable(f"no Delta table {name} ({self._source(name)})")
        with self._lock:
            if name not in self._commits:
                maintainer = Maintainer(lambda vacuum: self._maintain(name, vacuum), self.maintenance,
                                        name=str(name))
                self._maintainers.append(maintainer)
                self._commits[name] = GroupCommit(lambda tables, _appends: self._commit(name, tables),
                                                  name=str(name), limits=self._limits,
                                                  after_commit=maintainer.committed)
            return self._commits[name]

    def _commit(self, name: TableName, tables: list[pa.Table]) -> None:
        """One Delta commit; returns after it. No schema is imposed on the frame: no casts."""
        frame = self.spark.createDataFrame(pa.concat_tables(tables))
        if self.remote:
            expected = self._struct(name)
            if frame.schema != expected:
                raise SchemaMismatch(f"rows for {name} do not have the table's schema:\n"
                                     f"rows:  {frame.schema.simpleString()}\n"
                                     f"table: {expected.simpleString()}")
            frame.write.format("delta").mode("append").saveAsTable(self.identifier(name))
        else:
            frame.write.format("delta").mode("append").save(str(self.table_path(name)))

    def _maintain(self, name: TableName, vacuum: bool) -> None:
        """Compact the table's small files (a Delta commit through Spark, beside the appends)."""
        self.spark.sql(f"OPTIMIZE {self._source(name)}").collect()
        if vacuum:
            hours = self.maintenance.vacuum_retention_hours
            self.spark.sql(f"VACUUM {self._source(name)} RETAIN {hours} HOURS").collect()

    def _register(self, name: TableName) -> None:
        """Locally: make ``<catalog>__<schema>.<table>`` name this writer's path (external table)."""
        if self.remote or name in self._registered:
            return
        identifier = _quote(self.identifier(name))
        path = self.table_path(name)
        self.spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {_quote(flat_namespace(name))}")
        if self.spark.catalog.tableExists(self.identifier(name)):
            info = {row["col_name"]: row["data_type"] for row in
                    self.spark.sql(f"DESCRIBE TABLE EXTENDED {identifier}").collect()}
            location = re.sub(r"^file:", "", info.get("Location", ""))
            if Path(location) != path:
                if info.get("Type") != "EXTERNAL":
                    raise RuntimeError(f"{self.identifier(name)} is a managed table at {location}; "
                                       f"this writer keeps {name} at {path}")
                self.spark.sql(f"DROP TABLE {identifier}")  # external: the data stays
        location = _sql_string(str(path))
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {identifier} USING DELTA LOCATION {location}")
        self._registered.add(name)

    def _table_lock(self, name: TableName) -> threading.Lock:
        with self._lock:
            return self._table_locks.setdefault(name, threading.Lock())
