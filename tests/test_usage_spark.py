"""The usage-table checks on the Spark engine, and the report reading tables through Spark.

The shipped checks (conformance/test_usage_tables.py) run in this process with
``--delta-engine=spark``, so the mock's usage and inference tables are created from the DDL by
Spark SQL and every group of rows is a Delta append that Spark's schema enforcement accepts;
the deltalake half runs in every ``--conformance`` run. On Spark a subset runs (a streamed and a
JSON request, a refusal, the legacy tag header): each check costs two Spark commits and a read,
~10 s on 2 cores, and the rows are built by the same code on both engines.
"""

from __future__ import annotations

import pytest

from gateway_conformance.resources import suite_dir

pytestmark = pytest.mark.spark
pytest_plugins = ["pytester"]


def test_the_usage_checks_pass_on_the_spark_engine(pytester: pytest.Pytester, local_spark) -> None:
    suite = suite_dir() / "test_usage_tables.py"
    prefix = "spark_usage"
    subset = "anthropic-stream or gemini-json or (429 and openai) or legacy"
    result = pytester.runpytest_inprocess("--conformance", "--delta-engine=spark", f"--table-prefix={prefix}",
                                          "-p", "no:cacheprovider", "-k", subset, str(suite))
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == 6, result.stdout.str()[-3000:]
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()[-3000:]
    for kind in ("usage", "inference"):  # created by the Spark writer: in this session's catalog
        assert local_spark.catalog.tableExists(f"main__otel.{prefix}_ai_gateway_{kind}")
