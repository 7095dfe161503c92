"""The embedded Delta engine (delta-rs via ``deltalake``), committing through :mod:`.commits`.

Each table has one open ``DeltaTable``, written only by its group-commit thread (see
:mod:`gateway_conformance.tables.commits` for the grouping and the back-pressure rule), and
is compacted in the background by :mod:`gateway_conformance.tables.maintenance`. With
maintenance on, appends skip delta-rs's post-commit checkpoint (a checkpoint every 100th
append would make that append wait for it); the maintenance pass writes the checkpoint.

Two delta-rs traps are handled here and nowhere else: the ``otel.schemaVersion`` property is
refused unless ``raise_if_key_not_exists=False``, and a sliced Arrow array holding a list or
map inside a struct aborts the whole process (an arrow-rs panic), so any batch holding a
slice is rebuilt into fresh, offset-free arrays before delta-rs sees it.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, PostCommitHookProperties, write_deltalake

from gateway_conformance.tables.commits import CommitLimits, GroupCommit
from gateway_conformance.tables.maintenance import Maintainer, MaintenancePolicy
from gateway_conformance.tables.schema import arrow_schema, declared_properties, infer_kind, table_properties
from gateway_conformance.tables.writer import TableInfo, TableName, UnknownTable

_NO_HOOKS = PostCommitHookProperties(create_checkpoint=False, cleanup_expired_logs=False)
#: Commit metadata key holding how many ``append`` calls a commit carries (group commit is visible).
APPENDS_KEY = "gateway_conformance.appends"


def read_table(path: Path | str, columns: list[str] | None = None) -> pa.Table:
    """A local Delta table's rows. Use this rather than ``DeltaTable.to_pyarrow_table()``.

    It reads through a plain pyarrow filesystem, not deltalake's default Python-backed one:
    reading through the latter in a process that committed from another thread aborts the
    interpreter at exit now and then ("terminate called without an active exception",
    about 1 run in 6 here), which fails a test run that passed.
    """
    local = pafs.SubTreeFileSystem(str(Path(path).resolve()), pafs.LocalFileSystem())
    return DeltaTable(str(path)).to_pyarrow_dataset(filesystem=local).to_table(columns=columns)


def has_offsets(array: pa.Array) -> bool:
    """Whether ``array`` or any array nested in it starts at a non-zero offset (is a slice)."""
    if array.offset:
        return True
    kind = array.type
    if pa.types.is_struct(kind):
        return any(has_offsets(array.field(index)) for index in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
        return has_offsets(array.values)  # the raw child, not the offset-adjusted flatten()
    return False


def commit_batches(schema: pa.Schema, tables: list[pa.Table]) -> list[pa.RecordBatch]:
    """The batches of ``tables`` as delta-rs may safely take them: any batch holding a slice
    anywhere is rebuilt with ``pa.concat_arrays``, which copies even a single chunk into new
    offset-free buffers; fresh batches pass through, since copying them costs as much as the
    commit itself.
    """
    batches = []
    for table in tables:
        for batch in table.to_batches():
            if any(has_offsets(column) for column in batch.columns):
                batch = pa.RecordBatch.from_arrays([pa.concat_arrays([column]) for column in batch.columns],
                                                   schema=schema)
            batches.append(batch)
    return batches


class _Table:
    """One table's open ``DeltaTable`` and its group commit; only the commit thread writes it."""

    def __init__(self, path: Path, name: TableName, limits: CommitLimits, policy: MaintenancePolicy) -> None:
        self._path = path
        self._table = DeltaTable(str(path))
        self._schema = pa.schema(self._table.schema().to_arrow())
        self._policy = policy
        self._hooks = _NO_HOOKS if policy.enabled else None
        self._compacted = threading.Event()  # the open snapshot lags a maintenance commit
        self.maintainer = Maintainer(self._maintain, policy, name=str(name))
        self.commits = GroupCommit(self._commit, name=str(name), limits=limits,
                                   after_commit=self.maintainer.committed)

    def close(self) -> None:
        self.commits.close()
        self.maintainer.close()

    def submit(self, rows: pa.Table) -> Future[None]:
        """Queue rows for the next commit, cast to the table's schema first."""
        if rows.schema != self._schema:
            rows = rows.cast(self._schema)  # raises on a real mismatch, before anything is queued
        return self.commits.submit(rows)

    def _commit(self, tables: list[pa.Table], appends: int) -> None:
        try:
            # A Table streams through pyarrow's C++ reader; RecordBatchReader.from_batches
            # would be a Python iterator that delta-rs needs the GIL for, batch by batch.
            data = pa.Table.from_batches(commit_batches(self._schema, tables), schema=self._schema)
            if self._compacted.is_set():  # else the open snapshot keeps the compacted files live
                self._compacted.clear()
                self._table.update_incremental()
            write_deltalake(self._table, data, mode="append", post_commithook_properties=self._hooks,
                            commit_properties=CommitProperties(custom_metadata={APPENDS_KEY: str(appends)}))
        except BaseException:
            self._reload()
            raise

    def _maintain(self, vacuum: bool) -> None:
        """One maintenance pass on its own ``DeltaTable`` (the commit thread keeps appending)."""
        table = DeltaTable(str(self._path))
        table.optimize.compact(post_commithook_properties=_NO_HOOKS)
        self._compacted.set()
        table.create_checkpoint()
        table.cleanup_metadata()
        if vacuum:
            table.vacuum(retention_hours=self._policy.vacuum_retention_hours, dry_run=False,
                         post_commithook_properties=_NO_HOOKS)

    def _reload(self) -> None:
        """After a failed commit, start again from the table's state on disk."""
        with contextlib.suppress(Exception):  # the next commit attempt reports the real problem
            self._table = DeltaTable(str(self._path))


class DeltaRsWriter:
    """:class:`DeltaWriter` on delta-rs: tables live at ``<tables_dir>/<catalog>/<schema>/<table>``.

    ``max_batch_rows`` caps one commit; ``max_pending_rows`` caps rows queued per table, past
    which ``append`` raises ``WriterOverloaded`` instead of growing memory without bound;
    ``maintenance`` says when tables are compacted (default: every 50 commits).
    """

    def __init__(self, tables_dir: Path | str, *, max_batch_rows: int = 250_000,
                 max_pending_rows: int = 1_000_000, maintenance: MaintenancePolicy | None = None,
                 max_linger_seconds: float = CommitLimits.max_linger_seconds) -> None:
        self.tables_dir = Path(tables_dir)
        self.maintenance = maintenance or MaintenancePolicy()
        self._limits = CommitLimits(max_batch_rows=max_batch_rows, max_pending_rows=max_pending_rows,
                                   max_linger_seconds=max_linger_seconds)
        self._tables: dict[TableName, _Table] = {}
        self._lock = threading.Lock()
        self._closed = False

    def table_path(self, name: TableName) -> Path:
        return self.tables_dir / name.catalog / name.schema / name.table

    def create_table(self, name: TableName, kind: str) -> None:
        path = self.table_path(name)
        path.mkdir(parents=True, exist_ok=True)
        with self._lock:
            configuration = {**self.maintenance.table_configuration(), **table_properties(kind)}
            DeltaTable.create(str(path), arrow_schema(kind), mode="ignore", name=str(name),
                              configuration=configuration, raise_if_key_not_exists=False)

    def table_info(self, name: TableName) -> TableInfo | None:
        path = self.table_path(name)
        if not DeltaTable.is_deltatable(str(path)):
            return None
        table = DeltaTable(str(path))
        kind = infer_kind(pa.schema(table.schema().to_arrow()))
        return TableInfo(kind, declared_properties(kind, table.metadata().configuration))

    def append(self, name: TableName, rows: pa.Table) -> None:
        if rows.num_rows == 0:
            return
        self._open(name).submit(rows).result()

    def read(self, name: TableName) -> pa.Table:
        path = self.table_path(name)
        if not DeltaTable.is_deltatable(str(path)):
            raise UnknownTable(f"no Delta table {name} at {path}")
        return read_table(path)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            tables = list(self._tables.values())
        for table in tables:
            table.close()

    def _open(self, name: TableName) -> _Table:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"writer for {self.tables_dir} is closed")
            table = self._tables.get(name)
            if table is None:
                path = self.table_path(name)
                if not DeltaTable.is_deltatable(str(path)):
                    raise UnknownTable(f"no Delta table {name} at {path}")
                table = self._tables[name] = _Table(path, name, self._limits, self.maintenance)
            return table

