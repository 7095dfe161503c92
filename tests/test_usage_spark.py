"""The usage-table checks on the Spark engine, and the report reading tables through Spark.

The shipped checks (conformance/test_usage_tables.py) run in this process with
``--delta-engine=spark``, so the mock's usage and inference tables are created from the DDL by
Spark SQL and every group of rows is a Delta append that Spark's schema enforcement accepts;
the deltalake half runs in every ``--conformance`` run. Then ``report --engine spark
--spark-remote`` reads tables that only a Spark Connect server holds. On Spark a subset runs (a streamed and a
JSON request, a refusal, the legacy tag header): each check costs two Spark commits and a read,
~10 s on 2 cores, and the rows are built by the same code on both engines.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import httpx
import pytest

from gateway_conformance.gateway.app import GatewayConfig, create_gateway, new_token
from gateway_conformance.gateway.usage.recorder import UsageRecorder, UsageTables
from gateway_conformance.otlp.sink import start_sink
from gateway_conformance.pytest_fixtures.usage import CHECK_TAG, spark_tagged_rows
from gateway_conformance.report.dashboard import load_dashboard
from gateway_conformance.resources import suite_dir
from gateway_conformance.server import ServerHandle
from gateway_conformance.tables.spark import SparkDeltaWriter

pytestmark = pytest.mark.gwc_spark
pytest_plugins = ["pytester"]


def test_the_usage_checks_pass_on_the_spark_engine(pytester: pytest.Pytester, gwc_local_spark) -> None:
    suite = suite_dir() / "test_usage_tables.py"
    prefix = "spark_usage"
    subset = "anthropic-stream or gemini-json or (429 and openai) or legacy"
    result = pytester.runpytest_inprocess("--conformance", "--delta-engine=spark", f"--table-prefix={prefix}",
                                          "-p", "no:cacheprovider", "-k", subset, str(suite))
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == 6, result.stdout.str()[-3000:]
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()[-3000:]
    for kind in ("usage", "inference"):  # created by the Spark writer: in this session's catalog
        assert gwc_local_spark.catalog.tableExists(f"main__otel.{prefix}_ai_gateway_{kind}")


PREFIX = "connect_report"


def _token_usage_export(tokens: float) -> dict:
    """One Claude Code ``claude_code.token.usage`` delta point, as OTLP/JSON."""
    attributes = [{"key": "type", "value": {"stringValue": "input"}},
                  {"key": "model", "value": {"stringValue": "databricks-claude-opus-4-6"}}]
    point = {"asDouble": tokens, "timeUnixNano": str(time.time_ns()), "attributes": attributes}
    return {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeMetrics": [{"scope": {"name": "com.anthropic.claude_code"}, "metrics": [{
            "name": "claude_code.token.usage",
            "sum": {"aggregationTemporality": 1, "isMonotonic": True, "dataPoints": [point]}}]}]}]}


def test_report_reads_through_spark_connect_what_only_the_server_holds(
        spark_connect_url: str, gwc_local_spark, tmp_path: Path) -> None:
    """``serve --engine spark --spark-remote``: sink and gateway tables are managed by the Connect
    server, so ``report --tables-dir`` finds nothing and ``report --engine spark --spark-remote``
    finds them all."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    client = ConnectSession.builder.remote(spark_connect_url).create()
    try:
        token = new_token()
        with start_sink(tmp_path / "sink", PREFIX, [token], engine="spark", spark=client) as sink:
            headers = {"authorization": f"Bearer {token}", "content-type": "application/json",
                       "x-databricks-uc-table-name": str(sink.table_names["metrics"])}
            answer = httpx.post(sink.endpoint("metrics"), content=json.dumps(_token_usage_export(1234)),
                                headers=headers, timeout=60)
            assert answer.status_code == 200, answer.text[:300]
        writer = SparkDeltaWriter(tmp_path / "gateway", spark=client)
        recorder = UsageRecorder(writer, UsageTables.for_prefix("main", "otel", PREFIX), secrets=[token])
        core = create_gateway(GatewayConfig(tokens={token: "alice"}))
        core.usage = recorder
        with ServerHandle(core, name="connect-gateway") as server:
            sdk = anthropic.Anthropic(base_url=f"{server.url}/anthropic", auth_token=token, max_retries=0)
            tags = {"Databricks-Ai-Gateway-Request-Tags": json.dumps({CHECK_TAG: "connect"})}
            for headers in ({}, tags):
                sdk.messages.create(model="databricks-claude-opus-4-6", max_tokens=32, extra_headers=headers,
                                    messages=[{"role": "user", "content": "hi"}])
        recorder.close()
        # What the checks read against an external target: the managed table, by tag, through Connect.
        (tagged,) = spark_tagged_rows(client, writer.identifier(recorder.tables.usage), "connect")
        assert tagged["requester"] == "alice" and tagged["status_code"] == 200 and tagged["output_tokens"] > 0
    finally:
        client.stop()
    assert not any((tmp_path / part / "main").exists() for part in ("sink", "gateway")), "managed tables only"

    local = load_dashboard(tmp_path, PREFIX)  # deltalake on the folders: nothing there
    charts = {chart.id: chart for chart in local.charts}
    assert charts["chart-usage-requests-by-user"].empty and charts["chart-tokens-by-type"].empty

    html = tmp_path / "report.html"  # a process of its own, as on a laptop: no local Spark session there
    command = [sys.executable, "-m", "gateway_conformance.cli", "report", "--engine", "spark",
               "--spark-remote", spark_connect_url, "--table-prefix", PREFIX, "--out", str(html)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    page = html.read_text(encoding="utf-8")
    drawn = r'<figure class="chart" id="([\w-]+)" data-state="ok"[^>]*data-total="([\d.]+)"'
    totals = dict(re.findall(drawn, page))
    assert float(totals["chart-usage-requests-by-user"]) == 1, sorted(totals)  # the tagged one is the suite's
    assert float(totals["chart-tokens-by-type"]) == 1234
    assert 'data-series="[&quot;alice&quot;]"' in page


def test_report_reads_local_tables_through_a_local_spark_session_like_deltalake(gwc_local_spark,
                                                                                 tmp_path: Path) -> None:
    """``report --engine spark --tables-dir``: the same folders, read by Spark, give the same charts."""
    from gateway_conformance.tables.delta import DeltaRsWriter

    token = new_token()
    writer = DeltaRsWriter(tmp_path)
    recorder = UsageRecorder(writer, UsageTables.for_prefix("main", "otel", "local_report"), secrets=[token])
    core = create_gateway(GatewayConfig(tokens={token: "bob"}))
    core.usage = recorder
    with ServerHandle(core, name="local-report-gateway") as server:
        sdk = anthropic.Anthropic(base_url=f"{server.url}/anthropic", auth_token=token, max_retries=0)
        sdk.messages.create(model="databricks-claude-opus-4-6", max_tokens=32,
                            messages=[{"role": "user", "content": "hello"}])
        with pytest.raises(anthropic.AuthenticationError):
            refused = anthropic.Anthropic(base_url=f"{server.url}/anthropic", auth_token="nope-not-a-token",
                                          max_retries=0)
            refused.messages.create(model="databricks-claude-opus-4-6", max_tokens=8,
                                    messages=[{"role": "user", "content": "x"}])
    recorder.close()
    writer.close()
    by_engine = {engine: {c.id: (c.total, c.empty is None) for c in load_dashboard(
        tmp_path, "local_report", catalog="main", schema="otel", engine=engine).charts}
        for engine in ("deltalake", "spark")}
    assert by_engine["spark"] == by_engine["deltalake"]
    assert by_engine["spark"]["chart-usage-requests-by-user"] == (2.0, True)
    assert by_engine["spark"]["chart-usage-errors-by-user"] == (1.0, True)
    assert gwc_local_spark.sql("SELECT 1 AS one").collect()[0]["one"] == 1  # the borrowed session is still up
