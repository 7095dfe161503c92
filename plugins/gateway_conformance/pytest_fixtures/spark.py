"""The one Spark session of a test session (``--delta-engine=spark``, ``--spark-remote``).

A JVM start costs ~7-11 s here, so every test that needs Spark shares this session; the
writers borrow it and never stop it. A session that was already running when the fixture
ran (pytester in-process runs) is borrowed too and left running.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["gwc_local_spark", "gwc_spark"]


def _missing_engine() -> str | None:
    """Why the Spark engine cannot run here, if it cannot (the ``spark`` extra or Java missing)."""
    for module, package in (("pyspark", "pyspark"), ("delta", "delta-spark")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed: pip install 'gateway-conformance[spark]'"
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        return "no Java runtime: install Java 17 (or set JAVA_HOME)"
    return None


@pytest.fixture(scope="session")
def gwc_spark(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """The test session's SparkSession: local ``local[2]`` with delta-spark, or ``--spark-remote``."""
    remote = request.config.getoption("spark_remote")
    if remote is None and (reason := _missing_engine()):
        if os.environ.get("CI"):  # CI installs both (./tasks test): a skip there would hide a gap
            pytest.fail(f"Spark engine unavailable in CI: {reason}")
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    from gateway_conformance.tables.spark import spark_session

    running = SparkSession.getActiveSession()
    session = spark_session(remote=remote, warehouse_dir=tmp_path_factory.mktemp("spark-warehouse"))
    yield session
    if running is None:
        session.stop()


@pytest.fixture(scope="session")
def gwc_local_spark(gwc_spark: SparkSession) -> SparkSession:
    """The session, for tests that need the driver's files or JVM: skipped under Spark Connect."""
    from gateway_conformance.tables.spark import is_connect

    if is_connect(gwc_spark):
        pytest.skip("needs a local Spark session (files shared with delta-rs, its JVM); --spark-remote is on")
    return gwc_spark
