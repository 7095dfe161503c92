"""The pytest plugin: the ``--conformance`` switch, the target options, markers, fixtures.

Hooks only. The fixtures themselves live in :mod:`gateway_conformance.pytest_fixtures`,
one module per server they stand up, and are re-exported here so pytest finds them
through the ``pytest11`` entry point.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway_conformance.pytest_fixtures.gateway import *  # noqa: F403  (fixtures)
from gateway_conformance.resources import suite_dir

TOKEN_ENV_DEFAULT = "GATEWAY_CONFORMANCE_TOKEN"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "gateway-conformance")
    group.addoption("--conformance", action="store_true", default=False,
                    help="collect and run the gateway conformance suite shipped with the package")
    group.addoption("--gateway-url", default=None, metavar="URL",
                    help="run against this gateway instead of the embedded mock")
    group.addoption("--workspace-url", default=None, metavar="URL",
                    help="OTLP endpoint root (…/api/2.0/otel/v1 lives under it) of the external target")
    group.addoption("--token-env", default=TOKEN_ENV_DEFAULT, metavar="NAME",
                    help=f"environment variable holding the bearer token for an external target "
                         f"(default {TOKEN_ENV_DEFAULT}); tokens are never taken from argv")
    group.addoption("--table-prefix", default="coding_agents", metavar="PREFIX",
                    help="Unity Catalog table prefix: <prefix>_otel_metrics, _otel_logs, _otel_spans")
    group.addoption("--delta-engine", default="deltalake", choices=("deltalake", "spark"),
                    help="engine that writes the sink's Delta tables (default: deltalake, no JVM)")
    group.addoption("--spark-remote", default=None, metavar="sc://HOST:PORT",
                    help="with --delta-engine=spark: a Spark Connect URL instead of a local session")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mock_only: needs the embedded mock's internals")
    if not config.getoption("conformance"):
        return
    suite = str(suite_dir())
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        config.args.append(suite)
    else:  # no paths given: `pytest --conformance` means "run the suite"
        config.args[:] = [suite]


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Without ``--conformance`` the shipped suite is never run, even if named."""
    if config.getoption("conformance"):
        return None
    return True if collection_path == suite_dir() or suite_dir() in collection_path.parents else None
