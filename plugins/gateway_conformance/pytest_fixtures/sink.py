"""Fixtures for the OTLP sink: the running sink, its URLs and tables, and a Delta row reader.

Against an external target (``--workspace-url`` or the profile's ``[otlp] url``) the URLs and
table names point there and the token comes from the profile's OTLP token variable; fixtures
that need the embedded sink's Delta tables are skipped with the reason. An external gateway
without an OTLP workspace URL skips the OTLP checks rather than judge the embedded sink.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from gateway_conformance.otlp.signals import SIGNALS, Signal, signal_table
from gateway_conformance.otlp.sink import ENDPOINTS, OTEL_PATH, SinkHandle, start_sink
from gateway_conformance.secret import Secret
from gateway_conformance.tables.writer import TableName
from gateway_conformance.target import external_token, target_of

__all__ = ["OtlpUrls", "gwc_delta_rows", "gwc_otlp_sink", "gwc_otlp_tables", "gwc_otlp_token",
           "gwc_otlp_urls"]



@dataclass(frozen=True)
class OtlpUrls:
    """The workspace root and the three OTLP/HTTP endpoints under it."""

    workspace_url: str
    metrics: str
    logs: str
    traces: str

    @classmethod
    def under(cls, workspace_url: str) -> OtlpUrls:
        root = workspace_url.rstrip("/")
        return cls(root, *(f"{root}{OTEL_PATH}/{ENDPOINTS[signal]}" for signal in SIGNALS))

    def for_signal(self, signal: Signal) -> str:
        return getattr(self, ENDPOINTS[signal])


def _external_workspace(config: pytest.Config) -> str | None:
    return target_of(config).workspace_url


def _no_embedded_sink(config: pytest.Config) -> None:
    """Against an external gateway the embedded sink is never the one judged: a pass there
    would be credited to a gateway that was not asked."""
    target = target_of(config)
    if target.workspace_url:
        pytest.skip("needs the embedded OTLP sink and its Delta tables (an OTLP workspace URL is set)")
    if target.external:
        pytest.skip("OTLP: the target has no OTLP workspace URL (set [otlp] url in the target profile "
                    "or --workspace-url); the embedded sink is not the target")


@pytest.fixture(scope="session")
def gwc_otlp_token(request: pytest.FixtureRequest) -> Secret:
    """The bearer token: from the profile's ``[otlp] token_env`` (else the gateway's token
    variable) for an external target, else a fresh random one."""
    if _external_workspace(request.config):
        return external_token(request.config, target_of(request.config).otlp_token_env)
    return Secret(f"gc-sink-{secrets.token_urlsafe(18)}")


@pytest.fixture(scope="session")
def gwc_otlp_tables(request: pytest.FixtureRequest) -> dict[Signal, TableName]:
    """The documented tables: ``<--uc-catalog>.<--uc-schema>.<--table-prefix>_otel_{metrics,logs,spans}``."""
    option = request.config.getoption
    return {signal: signal_table(signal, option("uc_catalog"), option("uc_schema"), option("table_prefix"))
            for signal in SIGNALS}


@pytest.fixture(scope="session")
def gwc_otlp_sink(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              gwc_otlp_token: Secret) -> Iterator[SinkHandle]:
    """The embedded sink (engine from ``--delta-engine``) with the prefix's three tables."""
    _no_embedded_sink(request.config)
    engine = request.config.getoption("delta_engine")
    engine_opts = {"spark": request.getfixturevalue("gwc_spark")} if engine == "spark" else {}
    option = request.config.getoption
    handle = start_sink(tmp_path_factory.mktemp("delta-tables"), option("table_prefix"),
                        [gwc_otlp_token.reveal()], engine=engine, catalog=option("uc_catalog"),
                        schema=option("uc_schema"), **engine_opts)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def gwc_otlp_urls(request: pytest.FixtureRequest) -> OtlpUrls:
    """Endpoint URLs of the target: the external ``--workspace-url`` or the embedded sink."""
    external = _external_workspace(request.config)
    if external:
        return OtlpUrls.under(external)
    _no_embedded_sink(request.config)
    sink: SinkHandle = request.getfixturevalue("gwc_otlp_sink")
    return OtlpUrls.under(sink.workspace_url)


@pytest.fixture(scope="session")
def gwc_delta_rows(gwc_otlp_sink: SinkHandle) -> Callable[[TableName | str], list[dict]]:
    """``delta_rows(table)``: every row of a sink table, as dicts, read back from Delta."""

    def read(table: TableName | str) -> list[dict]:
        name = table if isinstance(table, TableName) else TableName.parse(table)
        return gwc_otlp_sink.writer.read(name).to_pylist()

    return read
