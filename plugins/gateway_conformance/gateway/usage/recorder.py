"""The gateway's usage and inference tables: finished requests committed in groups.

``submit`` runs on the event loop just before a response's last byte leaves, so it only
queues the record and its captured bytes. One thread turns what waits into rows (stream
assembly and JSON parsing happen here, off the event loop) and appends one Arrow batch to
each table through the shared Delta writers, every ``interval`` seconds (5 by default) or
as soon as ``max_group`` requests wait: a commit carries many requests, never one each,
whichever engine writes (a delta-rs commit costs ~20 ms, a Spark one ~0.4 s, whatever its
size), and fewer commits keep delta-rs's own memory flat (it grows with the commit count
before settling). Databricks itself lands usage rows 15-20 minutes late; :meth:`flush`
commits at once for a reader that cannot wait.

Back-pressure, the same rule as the OTLP sink's: when the backlog passes ``max_pending``
requests or ``max_pending_bytes`` of captured bodies, the gateway refuses new model calls
with 503 and ``Retry-After`` (see :meth:`backlogged`) rather than grow without bound or drop
what it served; those refusals are still logged, and only past twice the limits is a row
counted in ``dropped`` instead of kept. A failed commit is retried; rows are dropped (and
counted) only after ``retries`` failed attempts, so a broken table cannot wedge the server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from gateway_conformance.gateway.ledger import LedgerRecord
from gateway_conformance.gateway.usage.capture import Exchange
from gateway_conformance.gateway.usage.rows import build_rows
from gateway_conformance.tables.schema import arrow_schema, default_table
from gateway_conformance.tables.writer import DeltaWriter, TableName

log = logging.getLogger(__name__)

USAGE_KIND = "ai_gateway_usage"
INFERENCE_KIND = "ai_gateway_inference"


@dataclass(frozen=True)
class UsageTables:
    """The two tables' names."""

    usage: TableName
    inference: TableName

    @classmethod
    def for_prefix(cls, catalog: str, schema: str, table_prefix: str) -> UsageTables:
        return cls(default_table(USAGE_KIND, catalog, schema, table_prefix),
                   default_table(INFERENCE_KIND, catalog, schema, table_prefix))

    def as_dict(self) -> dict[str, str]:
        return {"usage": str(self.usage), "inference": str(self.inference)}


class UsageRecorder:
    """:class:`~gateway_conformance.gateway.app.UsageSink` writing both tables through ``writer``."""

    def __init__(self, writer: DeltaWriter, tables: UsageTables, *, secrets: Iterable[str] = (),
                 workspace_id: str | None = None, interval: float = 5.0, max_group: int = 5_000,
                 max_pending: int = 20_000, max_pending_bytes: int = 128 * 1024 * 1024,
                 retries: int = 3) -> None:
        self.writer = writer
        self.tables = tables
        self._secrets = tuple(secrets)
        self._workspace_id = workspace_id
        self._interval = interval
        self._max_group = max_group
        self._max_pending = max_pending
        self._max_pending_bytes = max_pending_bytes
        self._retries = retries
        self._queue: deque[tuple[LedgerRecord, Exchange, int]] = deque()
        self._pending_bytes = 0
        self._submitted = 0
        self._committed = 0  # requests whose rows are committed (or given up on)
        self.commits = 0
        self.dropped = 0  # rows (two per request) that never reached a table
        self._flush_asked = False
        self._closing = False
        self._oldest_at = 0.0  # monotonic time the oldest waiting request was queued
        self._cond = threading.Condition()
        writer.create_table(tables.usage, USAGE_KIND)
        writer.create_table(tables.inference, INFERENCE_KIND)
        self._thread = threading.Thread(target=self._run, name="usage-tables", daemon=True)
        self._thread.start()

    # -- UsageSink -------------------------------------------------------------------------

    def submit(self, record: LedgerRecord, exchange: Exchange) -> None:
        size = exchange.request.size + exchange.response.size
        with self._cond:
            if self._closing or (len(self._queue) >= 2 * self._max_pending
                                 or self._pending_bytes + size > 2 * self._max_pending_bytes):
                self.dropped += 2
                log.error("usage tables: request %s not logged (%s)", record.request_id,
                          "recorder closed" if self._closing else "backlog over twice its limit")
                return
            if not self._queue:  # the oldest waiting request starts the interval
                self._oldest_at = time.monotonic()
                self._cond.notify_all()
            self._queue.append((record, exchange, size))
            self._pending_bytes += size
            self._submitted += 1
            if len(self._queue) >= self._max_group:
                self._cond.notify_all()

    def backlogged(self) -> bool:
        """Whether new model calls should wait (503): too many requests or bytes not yet committed."""
        return len(self._queue) >= self._max_pending or self._pending_bytes >= self._max_pending_bytes

    # -- control ---------------------------------------------------------------------------

    def flush(self, timeout: float = 60.0) -> None:
        """Commit everything submitted so far now, and return once it is in both tables."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._submitted
            self._flush_asked = True
            self._cond.notify_all()
            while self._committed < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"usage tables: {target - self._committed} requests still "
                                       f"uncommitted after {timeout:g} s")
                self._cond.wait(left)

    def close(self) -> None:
        """Commit what waits, then stop the thread (the writer stays open: it is the caller's)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    @property
    def pending(self) -> int:
        return len(self._queue)

    # -- the commit thread -----------------------------------------------------------------

    def _take(self) -> list[tuple[LedgerRecord, Exchange, int]] | None:
        """The next group: once the oldest waiting request has waited ``interval``, or
        ``max_group`` wait, or on a flush or close; None when closed and drained."""
        with self._cond:
            while not self._closing and not self._flush_asked and len(self._queue) < self._max_group:
                left = self._oldest_at + self._interval - time.monotonic() if self._queue else None
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            self._flush_asked = False
            if not self._queue:
                return None if self._closing else []
            count = min(len(self._queue), self._max_group)
            group = [self._queue.popleft() for _ in range(count)]
            self._oldest_at = time.monotonic()  # what is left waits one more interval at most
            return group

    def _run(self) -> None:
        while (group := self._take()) is not None:
            if not group:
                self._settle([])  # a flush with nothing waiting
                continue
            try:
                self._commit(group)
            except Exception:  # a bug in row building: report, count, keep serving
                log.exception("usage tables: %d requests not logged", len(group))
                self.dropped += 2 * len(group)
            self._settle(group)

    def _settle(self, group: list[tuple[LedgerRecord, Exchange, int]]) -> None:
        with self._cond:
            self._pending_bytes -= sum(size for _, _, size in group)
            self._committed += len(group)
            self._cond.notify_all()

    def _commit(self, group: list[tuple[LedgerRecord, Exchange, int]]) -> None:
        rows = [build_rows(record, exchange, secrets=self._secrets, workspace_id=self._workspace_id)
                for record, exchange, _ in group]
        batches = ((self.tables.usage, pa.Table.from_pylist([r.usage for r in rows],
                                                             schema=arrow_schema(USAGE_KIND))),
                   (self.tables.inference, pa.Table.from_pylist([r.inference for r in rows],
                                                                 schema=arrow_schema(INFERENCE_KIND))))
        for name, table in batches:
            for attempt in range(1, self._retries + 1):
                try:
                    self.writer.append(name, table)
                    self.commits += 1
                    break
                except Exception as error:
                    if attempt == self._retries:
                        log.error("usage tables: %d rows for %s not committed after %d attempts: %s",
                                  table.num_rows, name, attempt, error)
                        self.dropped += table.num_rows
                    else:
                        time.sleep(0.2 * attempt)
