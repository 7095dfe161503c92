"""The suite ships inside the wheel: built, installed into a fresh virtualenv with only its
declared dependencies, and run by pytest from an unrelated folder.

Editable installs resolve the suite from the checkout and share the development
environment's packages, so only a real wheel in a clean environment proves that
``pip install gateway-conformance && pytest --conformance`` works for a platform team.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The fresh venv must see only what it installed: a PYTHONPATH pointing at a checkout would win.
CLEAN_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


def _build_wheel(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(REPO)], check=True, timeout=300)
    return next(out.glob("gateway_conformance-*.whl"))


def test_installed_wheel_runs_the_suite_from_any_folder(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "dist")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                   check=True, env=CLEAN_ENV, timeout=900)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(python), "-c", "from gateway_conformance import resources; "
                            "print(resources.suite_dir()); print(resources.data_dir())"],
        cwd=elsewhere, capture_output=True, text=True, check=True, env=CLEAN_ENV, timeout=60)
    suite, data = (Path(line) for line in where.stdout.split())
    assert env_dir in suite.parents and suite.name == "_suite", suite
    assert (data / "schemas" / "otel_metrics.sql").is_file(), data

    # The SDK conformance checks and every shipped cassette: clients, sink and fixtures all
    # come from the installed distribution and its declared dependencies.
    run = subprocess.run(
        [str(python), "-m", "pytest", "--conformance", "-p", "no:cacheprovider", "-q",
         "-k", "sdk or test_otlp_sink or test_cassettes",
         "--conformance-report", "results.json", "--conformance-html", "matrix.html"],
        cwd=elsewhere, capture_output=True, text=True, env=CLEAN_ENV, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    summary = run.stdout.strip().splitlines()[-1]  # e.g. "140 passed, 160 deselected in 30.1s"
    assert summary.split()[1].rstrip(",") == "passed" and int(summary.split()[0]) > 0, summary

    # The report works on a plain install (plotly is a core dependency: docs/report.md), and
    # the pinned agent CLIs travel with the wheel for `gateway-conformance agents install`.
    cli = env_dir / "bin" / "gateway-conformance"
    page = subprocess.run([str(cli), "report", "--results", "results.json", "--out", "page.html"],
                          cwd=elsewhere, capture_output=True, text=True, env=CLEAN_ENV, timeout=300)
    assert page.returncode == 0, page.stderr
    assert (elsewhere / "matrix.html").stat().st_size > 0 and (elsewhere / "page.html").stat().st_size > 0
    pins = subprocess.run([str(python), "-c", "from gateway_conformance import resources; "
                                              "print(resources.node_pins_dir())"],
                          cwd=elsewhere, capture_output=True, text=True, check=True, env=CLEAN_ENV,
                          timeout=60)
    assert env_dir in Path(pins.stdout.strip()).parents, pins.stdout
