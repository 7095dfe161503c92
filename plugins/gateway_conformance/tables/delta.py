"""The embedded Delta engine (delta-rs via ``deltalake``) with group commit.

Why group commit: on 2 cores a delta-rs commit costs ~15-25 ms whatever its size, so 100
exports of 100 points committed one by one cost seconds while one commit of 10k rows costs
~50 ms. Each table therefore has one committer thread; ``append`` queues its rows and waits,
and the committer takes everything queued since its last commit into the next one. Nobody
waits on a timer: while one commit runs, the next batch gathers by itself. A commit is
atomic, so a failed commit fails every request in it and leaves none of their rows behind.

Two delta-rs traps are handled here and nowhere else: the ``otel.schemaVersion`` property is
refused unless ``raise_if_key_not_exists=False``, and a sliced Arrow array holding a list or
map inside a struct aborts the whole process (an arrow-rs panic), so any batch holding a
slice is rebuilt into fresh, offset-free arrays before delta-rs sees it.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from concurrent.futures import Future
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, write_deltalake

from gateway_conformance.tables.schema import arrow_schema, declared_properties, infer_kind, table_properties
from gateway_conformance.tables.writer import TableInfo, TableName, UnknownTable, WriterOverloaded

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


class _Committer:
    """The commit thread of one table; the only user of its open ``DeltaTable``."""

    def __init__(self, path: Path, name: TableName, *, max_batch_rows: int, max_pending_rows: int) -> None:
        self._path = path
        self._table = DeltaTable(str(path))
        self._schema = pa.schema(self._table.schema().to_arrow())
        self._max_batch_rows = max_batch_rows
        self._max_pending_rows = max_pending_rows
        self._queue: deque[tuple[pa.Table, Future[int]]] = deque()
        self._pending_rows = 0
        self._closing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"delta-commit-{name}", daemon=True)
        self._thread.start()

    def submit(self, rows: pa.Table) -> Future[int]:
        """Queue rows for the next commit; the future resolves to the commit's table version."""
        if rows.schema != self._schema:
            rows = rows.cast(self._schema)  # raises on a real mismatch, before anything is queued
        future: Future[int] = Future()
        with self._cond:
            if self._closing:
                raise RuntimeError(f"writer for {self._path} is closed")
            if self._pending_rows and self._pending_rows + rows.num_rows > self._max_pending_rows:
                raise WriterOverloaded(f"{self._pending_rows} rows already wait for a commit "
                                       f"(limit {self._max_pending_rows})")
            self._pending_rows += rows.num_rows
            self._queue.append((rows, future))
            self._cond.notify()
        return future

    def close(self) -> None:
        """Commit everything queued, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    def _take_batch(self) -> list[tuple[pa.Table, Future[int]]] | None:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                return None
            batch = [self._queue.popleft()]
            rows = batch[0][0].num_rows
            while self._queue and rows + self._queue[0][0].num_rows <= self._max_batch_rows:
                item = self._queue.popleft()
                rows += item[0].num_rows
                batch.append(item)
            return batch

    def _run(self) -> None:
        while (batch := self._take_batch()) is not None:
            outcome: int | BaseException
            try:
                # A Table streams through pyarrow's C++ reader; RecordBatchReader.from_batches
                # would be a Python iterator that delta-rs needs the GIL for, batch by batch.
                data = pa.Table.from_batches(commit_batches(self._schema, [rows for rows, _ in batch]),
                                             schema=self._schema)
                write_deltalake(self._table, data, mode="append",
                                commit_properties=CommitProperties(custom_metadata={APPENDS_KEY: len(batch)}))
                outcome = self._table.version()
            except BaseException as error:  # every waiter must learn the outcome
                outcome = error
                self._reload()
            with self._cond:  # room for new rows before the waiters wake up and send more
                self._pending_rows -= sum(rows.num_rows for rows, _ in batch)
            for _, future in batch:
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _reload(self) -> None:
        """After a failed commit, start again from the table's state on disk."""
        with contextlib.suppress(Exception):  # the next commit attempt reports the real problem
            self._table = DeltaTable(str(self._path))


class DeltaRsWriter:
    """:class:`DeltaWriter` on delta-rs: tables live at ``<tables_dir>/<catalog>/<schema>/<table>``.

    ``max_batch_rows`` caps one commit; ``max_pending_rows`` caps rows queued per table, past
    which ``append`` raises :class:`WriterOverloaded` instead of growing memory without bound.
    """

    def __init__(self, tables_dir: Path | str, *, max_batch_rows: int = 250_000,
                 max_pending_rows: int = 1_000_000) -> None:
        self.tables_dir = Path(tables_dir)
        self._max_batch_rows = max_batch_rows
        self._max_pending_rows = max_pending_rows
        self._committers: dict[TableName, _Committer] = {}
        self._lock = threading.Lock()
        self._closed = False

    def table_path(self, name: TableName) -> Path:
        return self.tables_dir / name.catalog / name.schema / name.table

    def create_table(self, name: TableName, kind: str) -> None:
        path = self.table_path(name)
        path.mkdir(parents=True, exist_ok=True)
        with self._lock:
            DeltaTable.create(str(path), arrow_schema(kind), mode="ignore", name=str(name),
                              configuration=table_properties(kind), raise_if_key_not_exists=False)

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
        self._committer(name).submit(rows).result()

    def read(self, name: TableName) -> pa.Table:
        path = self.table_path(name)
        if not DeltaTable.is_deltatable(str(path)):
            raise UnknownTable(f"no Delta table {name} at {path}")
        return read_table(path)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            committers = list(self._committers.values())
        for committer in committers:
            committer.close()

    def _committer(self, name: TableName) -> _Committer:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"writer for {self.tables_dir} is closed")
            committer = self._committers.get(name)
            if committer is None:
                path = self.table_path(name)
                if not DeltaTable.is_deltatable(str(path)):
                    raise UnknownTable(f"no Delta table {name} at {path}")
                committer = _Committer(path, name, max_batch_rows=self._max_batch_rows,
                                       max_pending_rows=self._max_pending_rows)
                self._committers[name] = committer
            return committer

