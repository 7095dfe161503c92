"""``gateway-conformance serve --json`` as a real subprocess: one JSON line, policy from flags,
tokens from the environment, clean exit on SIGTERM and SIGINT."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

MESSAGE = {"model": "databricks-claude-opus-4-6", "max_tokens": 16,
           "messages": [{"role": "user", "content": "hi"}]}


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None,
          ) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    process = subprocess.Popen([sys.executable, "-m", "gateway_conformance.cli", "serve", "--json", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    try:
        line = process.stdout.readline()
        assert line, process.stderr.read()
        yield process, json.loads(line)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _stop(process: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    process.send_signal(sig)
    out, _ = process.communicate(timeout=15)
    return process.returncode, out


def test_one_json_line_then_serves_until_sigterm() -> None:
    with serve() as (process, line):
        assert line["gateway_url"].startswith("http://127.0.0.1:")
        assert set(line["urls"]) >= {"anthropic", "openai", "cursor", "gemini"}
        ((identity, token),) = line["tokens"].items()
        assert identity == "default" and token
        response = httpx.post(line["urls"]["anthropic"] + "/v1/messages", json=MESSAGE,
                              headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 200
        admin = {"authorization": f"Bearer {line['admin_token']}"}
        ledger = httpx.get(line["admin_url"] + "/ledger", headers=admin)
        assert [r["identity"] for r in ledger.json()["records"]] == ["default"]
        assert line["admin_token"] != token  # a model token does not reach the admin routes
        assert httpx.get(line["admin_url"] + "/ledger",
                         headers={"authorization": f"Bearer {token}"}).status_code == 403
        code, rest = _stop(process, signal.SIGTERM)
    assert code == 0
    assert rest == "", "exactly one line on stdout"


def test_sigint_exits_zero() -> None:
    with serve() as (process, _):
        assert _stop(process, signal.SIGINT)[0] == 0


def test_tokens_from_env_are_accepted_and_not_printed() -> None:
    secret = "gwc-from-the-environment"
    with serve("--token-env", "alice=ALICE_TOKEN", env={"ALICE_TOKEN": secret}) as (process, line):
        assert line["tokens"] == {"alice": None}
        assert secret not in json.dumps(line)
        url = line["urls"]["anthropic"] + "/v1/messages"
        assert httpx.post(url, json=MESSAGE, headers={"authorization": f"Bearer {secret}"}).status_code == 200
        assert httpx.post(url, json=MESSAGE, headers={"authorization": "Bearer other"}).status_code == 401
        assert _stop(process, signal.SIGTERM)[0] == 0


def test_flags_set_permissions_and_limits(tmp_path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("bob=gwc-bob-token\ncarol=gwc-carol-token\n")
    with serve("--tokens-file", str(tokens), "--allow-model", "bob=databricks-gpt-5-2", "--qpm", "1") as (
            process, line):
        url = line["urls"]["anthropic"] + "/v1/messages"
        bob = {"authorization": "Bearer gwc-bob-token"}
        carol = {"authorization": "Bearer gwc-carol-token"}
        assert httpx.post(url, json=MESSAGE, headers=bob).status_code == 403
        assert httpx.post(url, json=MESSAGE, headers=carol).status_code == 200
        limited = httpx.post(url, json=MESSAGE, headers=carol)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert _stop(process, signal.SIGTERM)[0] == 0


def test_missing_env_token_is_an_error() -> None:
    result = subprocess.run([sys.executable, "-m", "gateway_conformance.cli", "serve", "--json",
                             "--token-env", "NOT_SET_ANYWHERE_42"], capture_output=True, text=True,
                            timeout=30,
                            env={k: v for k, v in os.environ.items() if k != "NOT_SET_ANYWHERE_42"})
    assert result.returncode != 0 and "NOT_SET_ANYWHERE_42" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("flag", ["--allow-model=nobody", "--token-env=", "--compact-every=-1"])
def test_bad_flags_fail_cleanly(flag: str) -> None:
    result = subprocess.run([sys.executable, "-m", "gateway_conformance.cli", "serve", "--json", flag],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and result.stdout == ""


def _log_export(marker: str) -> bytes:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    for n in range(50):
        record = records.add()
        record.body.string_value = f"{marker}-{n}"
        record.time_unix_nano = 1_700_000_000_000_000_000 + n
    return request.SerializeToString()


def test_sink_flags_and_acknowledged_rows_survive_sigterm(tmp_path) -> None:
    """Exports in flight when SIGTERM arrives: every acknowledged one is in Delta after exit."""
    from concurrent.futures import ThreadPoolExecutor

    from gateway_conformance.tables.delta import read_table

    tables = tmp_path / "tables"
    flags = ("--tables-dir", str(tables), "--table-prefix", "ci", "--catalog", "cat", "--schema", "sch")
    with serve(*flags) as (process, line):
        assert line["tables"] == {"metrics": "cat.sch.ci_otel_metrics", "logs": "cat.sch.ci_otel_logs",
                                  "spans": "cat.sch.ci_otel_spans"}
        headers = {"content-type": "application/x-protobuf",
                   "x-databricks-uc-table-name": line["tables"]["logs"],
                   "authorization": f"Bearer {line['tokens']['default']}"}

        def post(n: int) -> str | None:
            try:
                response = httpx.post(line["workspace_url"] + "/api/2.0/otel/v1/logs", headers=headers,
                                      content=_log_export(f"req{n}"), timeout=30)
            except httpx.TransportError:
                return None  # refused once the server stopped: never acknowledged
            return f"req{n}" if response.status_code == 200 else None

        with ThreadPoolExecutor(8) as pool:
            first = pool.submit(post, 0).result()
            assert first == "req0"
            pending = [pool.submit(post, n) for n in range(1, 40)]
            process.send_signal(signal.SIGTERM)
            acknowledged = {first} | {f.result() for f in pending} - {None}
        assert process.wait(30) == 0

    bodies = read_table(tables / "cat" / "sch" / "ci_otel_logs", ["body"]).column("body").to_pylist()
    stored = {body.rsplit("-", 1)[0] for body in bodies}
    assert acknowledged <= stored, f"acknowledged but lost: {sorted(acknowledged - stored)}"
    assert len(bodies) == 50 * len(stored), "each stored export is whole, none twice"


def test_sink_body_deadline_flags_cut_off_a_trickle() -> None:
    """``--sink-body-timeout 1``: a body that never finishes is answered 408 about a second later."""
    import socket
    import time
    from urllib.parse import urlsplit

    with serve("--sink-body-timeout", "1", "--sink-min-body-rate", "0") as (_, line):
        address = urlsplit(line["workspace_url"])
        token = line["tokens"]["default"]
        head = (f"POST /api/2.0/otel/v1/logs HTTP/1.1\r\nhost: {address.netloc}\r\n"
                f"content-type: application/x-protobuf\r\nauthorization: Bearer {token}\r\n"
                f"x-databricks-uc-table-name: {line['tables']['logs']}\r\ncontent-length: 1000\r\n\r\n")
        with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
            began = time.monotonic()
            sock.sendall(head.encode() + b"\0" * 10)
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408"), f"a stalled body got {answer[:80]!r}; required 408 at 1 s"
        assert time.monotonic() - began < 8


@pytest.mark.parametrize(("flags", "words"), [
    (("--sink-memory-budget", "1"), "--sink-memory-budget is too small"),
    (("--sink-body-timeout", "0"), "--sink-body-timeout must be more than 0"),
    (("--sink-min-body-rate", "slow"), "--sink-min-body-rate"),
])
def test_bad_sink_limits_are_one_line_errors(flags: tuple[str, ...], words: str) -> None:
    result = subprocess.run([sys.executable, "-m", "gateway_conformance.cli", "serve", "--json", *flags],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gauge(value: float) -> dict[str, Any]:
    point = {"asDouble": value, "timeUnixNano": str(1_700_000_000_000_000_000 + int(value))}
    return {"resourceMetrics": [{"resource": {"attributes": []}, "scopeMetrics": [
        {"scope": {"name": "restart-probe"}, "metrics": [{"name": "restart.probe", "gauge": {
            "dataPoints": [point]}}]}]}]}


def test_a_restart_on_fixed_ports_keeps_every_endpoint(tmp_path: Path) -> None:
    """Issue 14 item 8: exporters and clients configured with the first serve's endpoints
    (and tokens) reach the restarted one, whose sink appends to the same tables."""
    gateway_port, sink_port = _free_port(), _free_port()
    env = {"GWC_RESTART_TOKEN": "gwc-restart-model-token", "GWC_RESTART_ADMIN": "gwc-restart-admin-token"}
    flags = ("--gateway-port", str(gateway_port), "--sink-port", str(sink_port),
             "--tables-dir", str(tmp_path), "--token-env", "GWC_RESTART_TOKEN",
             "--admin-token-env", "GWC_RESTART_ADMIN")
    seen: list[dict[str, Any]] = []
    for value in (1.0, 2.0):
        with serve(*flags, env=env) as (process, line):
            seen.append(line)
            assert line["gateway_url"] == f"http://127.0.0.1:{gateway_port}"
            assert line["workspace_url"] == f"http://127.0.0.1:{sink_port}"
            assert line["admin_token"] is None  # supplied: never printed
            gateway = httpx.post(f"http://127.0.0.1:{gateway_port}/anthropic/v1/messages", json=MESSAGE,
                                 headers={"authorization": f"Bearer {env['GWC_RESTART_TOKEN']}"})
            assert gateway.status_code == 200, gateway.text
            ledger = httpx.get(f"http://127.0.0.1:{gateway_port}/_admin/ledger",
                               headers={"authorization": f"Bearer {env['GWC_RESTART_ADMIN']}"})
            assert ledger.status_code == 200 and len(ledger.json()["records"]) == 1
            export = httpx.post(f"http://127.0.0.1:{sink_port}/api/2.0/otel/v1/metrics", json=_gauge(value),
                                headers={"authorization": f"Bearer {env['GWC_RESTART_TOKEN']}",
                                         "x-databricks-uc-table-name": line["tables"]["metrics"]})
            assert export.status_code == 200, export.text
            code, _ = _stop(process, signal.SIGTERM)
            assert code == 0
    assert seen[0]["tables"] == seen[1]["tables"]
    from deltalake import DeltaTable

    folder = next(p for p in tmp_path.rglob("_delta_log") if "metrics" in str(p)).parent
    values = sorted(row["gauge"]["value"] for row in DeltaTable(folder).to_pyarrow_table().to_pylist()
                    if row["name"] == "restart.probe")
    assert values == [1.0, 2.0], "the restarted sink must append to the same metrics table"


def test_serve_writes_the_usage_and_inference_tables_of_its_traffic(tmp_path) -> None:
    """Issue 13: ``serve --json`` names both tables; after exit they hold one row per request."""
    from gateway_conformance.tables.delta import read_table

    tables = tmp_path / "tables"
    flags = ("--tables-dir", str(tables), "--table-prefix", "ci", "--catalog", "cat", "--schema", "sch")
    with serve(*flags) as (process, line):
        assert line["gateway_tables"] == {"usage": "cat.sch.ci_ai_gateway_usage",
                                          "inference": "cat.sch.ci_ai_gateway_inference"}
        token = line["tokens"]["default"]
        url = line["urls"]["anthropic"] + "/v1/messages"
        tags = {"Databricks-Ai-Gateway-Request-Tags": '{"team": "ci"}'}
        plain = httpx.post(url, json=MESSAGE, headers={"authorization": f"Bearer {token}", **tags})
        streamed = httpx.post(url, json={**MESSAGE, "stream": True},
                              headers={"authorization": f"Bearer {token}", **tags})
        refused = httpx.post(url, json=MESSAGE, headers={"authorization": "Bearer nope-not-a-token", **tags})
        assert (plain.status_code, streamed.status_code, refused.status_code) == (200, 200, 401)
        assert _stop(process, signal.SIGTERM)[0] == 0
    usage = sorted(read_table(tables / "cat" / "sch" / "ci_ai_gateway_usage").to_pylist(),
                   key=lambda row: row["event_time"])
    assert [(r["status_code"], r["streaming"], r["requester"]) for r in usage] == [
        (200, False, "default"), (200, True, "default"), (401, False, None)]
    reported = plain.json()["usage"]
    assert (usage[0]["input_tokens"], usage[0]["output_tokens"]) == (reported["input_tokens"],
                                                                     reported["output_tokens"])
    assert usage[2]["total_tokens"] == 0
    assert all(dict(r["request_tags"]) == {"team": "ci"} for r in usage)
    inference = {r["request_id"]: r for r in
                 read_table(tables / "cat" / "sch" / "ci_ai_gateway_inference").to_pylist()}
    assert json.loads(inference[plain.headers["request-id"]]["response"]) == plain.json()
    assert inference[streamed.headers["request-id"]]["stream_event_count"] == streamed.text.count("\n\n")
    assert token not in json.dumps([usage, list(inference.values())], default=str)
