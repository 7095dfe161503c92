"""Fixtures for the gateway's usage and inference tables, embedded or on an external workspace.

Embedded, the session's mock writes both tables through the ``--delta-engine`` writer into a
temporary folder (see :func:`gwc_usage_recorder`), and a reader flushes the recorder before it
reads, so a check sees every request it sent. Against an external target the tables are read
through Spark Connect (``--spark-remote``); without it the checks are skipped with that reason.

Checks find their own rows by a request tag holding a fresh value (:data:`CHECK_TAG`): that
works the same on the mock and on a workspace whose tables hold everyone's traffic.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from gateway_conformance.gateway.usage.recorder import UsageRecorder, UsageTables
from gateway_conformance.gateway.usage.tags import SUITE_TAG

__all__ = ["UsageReader", "add_usage_options", "gwc_usage_reader", "gwc_usage_recorder", "gwc_usage_tag"]

#: The tag key a check stamps on its requests to find their rows again.
CHECK_TAG = SUITE_TAG
Kind = Literal["usage", "inference"]


def add_usage_options(group: Any) -> None:
    """The usage-table options (called from the plugin's ``pytest_addoption``)."""
    group.addoption("--usage-table", default="system.ai_gateway.usage", metavar="CATALOG.SCHEMA.TABLE",
                    help="external target: the usage table to check (default system.ai_gateway.usage)")
    group.addoption("--inference-table", default=None, metavar="CATALOG.SCHEMA.TABLE",
                    help="external target: the gateway's inference table (its checks skip without it)")
    group.addoption("--usage-wait", default=1200.0, type=float, metavar="SECONDS",
                    help="external target: how long to wait for rows to appear (Databricks documents "
                         "a delay of 15-20 minutes; default 1200)")
    group.addoption("--requester", default=None, metavar="IDENTITY",
                    help="external target: the identity the token maps to (the rows' requester)")


#: How long the embedded reader waits for a request's rows. The mock records a request once
#: its answer is fully sent, a moment after an SDK has read the last event and returned (a
#: chat stream ends at ``[DONE]``), so a check reading at once could miss its row under load.
EMBEDDED_WAIT_SECONDS = 10.0


@dataclass
class UsageReader:
    """Rows of one table kind carrying a check's tag, waiting until ``expected`` appear."""

    read: Callable[[Kind, str], list[dict[str, Any]]]
    requester: str | None
    wait: float
    embedded: bool

    def rows(self, kind: Kind, tag: str, expected: int) -> list[dict[str, Any]]:
        """The rows tagged ``tag``; polls until at least ``expected`` are there or ``wait`` ends
        (every 50 ms on the mock, every 30 s on a workspace, whose rows land minutes late)."""
        deadline = time.monotonic() + self.wait
        pause = 0.05 if self.embedded else 30.0
        while True:
            found = self.read(kind, tag)
            if len(found) >= expected or time.monotonic() > deadline:
                return found
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.01)))


def _tagged(rows: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    return [row for row in rows if dict(row.get("request_tags") or {}).get(CHECK_TAG) == tag]


def spark_tagged_rows(spark: Any, table: str, tag: str) -> list[dict[str, Any]]:
    """The rows of ``table`` (a name Spark resolves) whose request tags carry ``tag``, read by Spark."""
    frame = spark.table(table)  # the frame's own column: classic or Connect, whichever the session is
    return frame.where(frame["request_tags"].getItem(CHECK_TAG) == tag).toArrow().to_pylist()


@pytest.fixture(scope="session")
def gwc_usage_recorder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                   ) -> Iterator[UsageRecorder]:
    """The embedded mock's usage tables (engine from ``--delta-engine``), flushed and closed at the end."""
    from gateway_conformance.tables.engines import make_writer

    gateway = request.getfixturevalue("gwc_gateway")
    engine = request.config.getoption("delta_engine")
    options = {"spark": request.getfixturevalue("gwc_spark")} if engine == "spark" else {}
    writer = make_writer(engine, tmp_path_factory.mktemp("usage-tables"), **options)
    option = request.config.getoption
    tables = UsageTables.for_prefix(option("uc_catalog"), option("uc_schema"), option("table_prefix"))
    recorder = UsageRecorder(writer, tables, secrets=list(gateway.core.config.tokens), interval=0.5)
    gateway.core.usage = recorder
    yield recorder
    gateway.core.usage = None
    recorder.close()
    writer.close()


@pytest.fixture(scope="session")
def gwc_usage_reader(request: pytest.FixtureRequest) -> UsageReader:
    """Reads the usage/inference rows of a check, from the mock's tables or through Spark Connect."""
    option = request.config.getoption
    if not option("gateway_url"):
        recorder: UsageRecorder = request.getfixturevalue("gwc_usage_recorder")

        def embedded(kind: Kind, tag: str) -> list[dict[str, Any]]:
            recorder.flush()
            name = recorder.tables.usage if kind == "usage" else recorder.tables.inference
            return _tagged(recorder.writer.read(name).to_pylist(), tag)

        return UsageReader(embedded, requester=None, wait=EMBEDDED_WAIT_SECONDS, embedded=True)
    remote = option("spark_remote")
    if remote is None:
        pytest.skip("external target: the usage and inference tables are read through Spark Connect; "
                    "give --spark-remote sc://HOST:PORT")
    from gateway_conformance.tables.spark import spark_session

    spark = spark_session(remote=remote)
    names = {"usage": option("usage_table"), "inference": option("inference_table")}

    def external(kind: Kind, tag: str) -> list[dict[str, Any]]:
        if names[kind] is None:
            pytest.skip(f"external target: no --{kind}-table given")
        return spark_tagged_rows(spark, names[kind], tag)

    return UsageReader(external, requester=option("requester"), wait=float(option("usage_wait")),
                       embedded=False)


@pytest.fixture
def gwc_usage_tag() -> dict[str, str]:
    """A fresh request-tags object for one check; its rows carry it, others' do not."""
    return {CHECK_TAG: uuid.uuid4().hex, "team": "platform"}
