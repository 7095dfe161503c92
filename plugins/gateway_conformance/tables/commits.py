"""Group commit with one back-pressure rule, shared by both engines.

Why: a Delta commit costs about the same for 10 rows as for 10,000 (delta-rs ~15-25 ms,
Spark ~0.3-0.5 s on 2 cores), so 100 exports of 100 points committed one by one cost seconds
while one commit of 10k rows costs one commit. Each table therefore has one commit thread;
``submit`` queues its rows and returns a future, and the thread takes everything queued
since its last commit into the next one. While one commit runs, the next batch gathers by
itself, so the grouping follows the load.

Sized by load: an exporter sends its next request only after the answer to the last one, so
right after a commit the queue holds only the requests that arrived during it, while the
callers just answered are still sending, decoding and mapping their next ones (measured:
about 4 requests per commit under 8 telemetrygen workers). So the commit thread waits for as
many appends as have recently been outstanding at once (the table's concurrency), but never
longer than the previous commit took nor ``max_linger_seconds``: a lone caller never waits
(its concurrency is 1), and under load a commit carries about every caller, which halves
the commits per point. Acknowledgement still follows the commit.

Rules, the same for every engine:

- a batch holds rows of one Arrow schema (rows of another schema wait for their own commit
  and their own verdict, so one wrong request cannot fail the others);
- at most ``max_batch_rows`` rows per commit (a single larger append is committed alone);
- at most ``max_pending_rows`` rows queued or being committed per table: past that,
  ``submit`` raises :class:`~gateway_conformance.tables.writer.WriterOverloaded`, which the
  sink answers with 503 + ``Retry-After`` instead of growing memory without bound;
- a commit is atomic, so a failed commit fails every append in it and stores none of them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import pyarrow as pa

from gateway_conformance.tables.writer import WriterOverloaded

#: Commits ``tables`` (one schema, ``appends`` requests) as one Delta commit; returns after it.
CommitFn = Callable[[list[pa.Table], int], None]


@dataclass(frozen=True)
class CommitLimits:
    """Bounds of one table's group commit; the writers' ``max_batch_rows``/``max_pending_rows``."""

    max_batch_rows: int = 250_000
    max_pending_rows: int = 1_000_000
    #: Longest wait for the usual number of concurrent appends to gather (0: never wait).
    max_linger_seconds: float = 0.025


class GroupCommit:
    """The commit thread of one table; ``commit`` is only ever called from it."""

    def __init__(self, commit: CommitFn, *, name: str, limits: CommitLimits,
                 after_commit: Callable[[], None] | None = None) -> None:
        self._commit = commit
        self._after_commit = after_commit
        self._name = name
        self._limits = limits
        self._queue: deque[tuple[pa.Table, Future[None]]] = deque()
        self._pending_rows = 0
        self._committing = 0  # appends in the commit running now
        self._peak = 0  # most appends outstanding at once during the current commit cycle
        self._concurrency = 1.0  # decaying maximum of the recent peaks
        self._last_commit_seconds = 0.0
        self._closing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"delta-commit-{name}", daemon=True)
        self._thread.start()

    def submit(self, rows: pa.Table) -> Future[None]:
        """Queue rows for the next commit; the future resolves once they are committed."""
        future: Future[None] = Future()
        with self._cond:
            if self._closing:
                raise RuntimeError(f"writer for {self._name} is closed")
            limit = self._limits.max_pending_rows
            if self._pending_rows and self._pending_rows + rows.num_rows > limit:
                raise WriterOverloaded(f"{self._pending_rows} rows already wait for a commit to {self._name} "
                                       f"(limit {limit})")
            self._pending_rows += rows.num_rows
            self._queue.append((rows, future))
            self._peak = max(self._peak, len(self._queue) + self._committing)
            self._cond.notify()
        return future

    def pending(self) -> tuple[int, int]:
        """(appends queued, rows queued or being committed): what the next commit may carry."""
        with self._cond:
            return len(self._queue), self._pending_rows

    def close(self) -> None:
        """Commit everything queued, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    def _take_batch(self) -> list[tuple[pa.Table, Future[None]]] | None:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                return None
            self._concurrency = max(float(self._peak), self._concurrency * 0.95)
            self._peak = len(self._queue)
            linger = min(self._last_commit_seconds, self._limits.max_linger_seconds)
            deadline = time.monotonic() + linger
            while (len(self._queue) < int(self._concurrency) and not self._closing
                   and (remaining := deadline - time.monotonic()) > 0):
                self._cond.wait(remaining)
            batch = [self._queue.popleft()]
            schema, rows = batch[0][0].schema, batch[0][0].num_rows
            while (self._queue and self._queue[0][0].schema == schema
                   and rows + self._queue[0][0].num_rows <= self._limits.max_batch_rows):
                item = self._queue.popleft()
                rows += item[0].num_rows
                batch.append(item)
            self._committing = len(batch)
            return batch

    def _run(self) -> None:
        while (batch := self._take_batch()) is not None:
            error: BaseException | None = None
            began = time.monotonic()
            try:
                self._commit([rows for rows, _ in batch], len(batch))
            except BaseException as failure:  # every waiter must learn the outcome
                error = failure
            with self._cond:  # room for new rows before the waiters wake up and send more
                self._pending_rows -= sum(rows.num_rows for rows, _ in batch)
                self._committing = 0
                self._last_commit_seconds = time.monotonic() - began
            for _, future in batch:
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)
            if error is None and self._after_commit is not None:
                self._after_commit()
