"""``.ci/lowest_constraints.py``: the pins ``./tasks lowest`` installs are pyproject.toml's lower bounds.

The task proves the bounds only if every direct dependency is pinned at its bound, and a
dependency declared without a bound cannot slip through untested (issue 16).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / ".ci" / "lowest_constraints.py"


def _module() -> ModuleType:
    """The script as a module (it lives outside the package)."""
    spec = importlib.util.spec_from_file_location("lowest_constraints", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_direct_dependency_is_pinned_at_its_lower_bound() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "test"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    pins = dict(line.split("==") for line in proc.stdout.split())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    assert len(pins) == len(declared)
    assert pins["anthropic"] == "1.0" and pins["httpx2"] == "2.7" and pins["pytest-timeout"] == "2.3.1"


@pytest.mark.parametrize(("requirement", "pin"), [
    ("pyspark[connect]==4.2.0", "pyspark==4.2.0"),
    ("pandas>=2.2,<3", "pandas==2.2"),
    ("plotly >= 5.20", "plotly==5.20"),
])
def test_a_requirement_becomes_its_lower_bound(requirement: str, pin: str) -> None:
    assert _module().lower_bound(requirement) == pin


@pytest.mark.parametrize("requirement", ["ruff", "pandas<3"])
def test_a_requirement_without_a_lower_bound_is_refused(requirement: str) -> None:
    with pytest.raises(ValueError, match="has no lower bound"):
        _module().lower_bound(requirement)


def test_an_unknown_extra_is_one_line_and_exit_2() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "nope"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "no extra nope" in proc.stderr, proc.stderr
