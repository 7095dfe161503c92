"""The suite ships inside the wheel: built, unpacked, and run by pytest from an unrelated folder.

Editable installs resolve the suite from the checkout, so only a real wheel proves that
``pytest --conformance`` works for a platform team that ran ``pip install gateway-conformance``.
The unpacked wheel goes first on PYTHONPATH, ahead of the editable checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _build_wheel(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(REPO)], check=True, timeout=300)
    return next(out.glob("gateway_conformance-*.whl"))


def test_installed_wheel_runs_the_suite_from_any_folder(tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(_build_wheel(tmp_path / "dist")) as wheel:
        wheel.extractall(site)
    assert (site / "gateway_conformance" / "_suite" / "test_anthropic_sdk.py").is_file()
    assert (site / "gateway_conformance" / "_fixtures" / "schemas" / "otel_metrics.sql").is_file()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "from gateway_conformance import resources; "
                               "print(resources.suite_dir()); print(resources.data_dir())"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True, timeout=60)
    assert where.stdout.split() == [str(site / "gateway_conformance" / "_suite"),
                                    str(site / "gateway_conformance" / "_fixtures")]

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--conformance", "-p", "no:cacheprovider", "-q",
         "-k", "test_anthropic_sdk or test_cassettes"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    summary = run.stdout.strip().splitlines()[-1]  # e.g. "69 passed, 226 deselected in 7.4s"
    assert summary.split()[1].rstrip(",") == "passed" and int(summary.split()[0]) > 0, summary
