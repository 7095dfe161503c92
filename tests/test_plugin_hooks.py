"""Every hook of the plugin is in plugin.py; the fixture modules are registered by name (issue 16).

A hook in a fixture module reached plugin.py through ``import *``, so reading plugin.py did
not tell what the plugin does to a run. The tests read the modules themselves, and check one
moved hook (a transport failure is one sentence) from outside, in a fresh pytest process.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

from gateway_conformance import plugin, pytest_fixtures

pytest_plugins = ["pytester"]


def _fixture_modules() -> list[str]:
    package = pytest_fixtures.__name__
    return [f"{package}.{info.name}" for info in pkgutil.iter_modules(pytest_fixtures.__path__)]


@pytest.mark.parametrize("name", _fixture_modules())
def test_a_fixture_module_has_no_hook(name: str) -> None:
    hooks = [attr for attr in vars(importlib.import_module(name)) if attr.startswith("pytest_")]
    assert not hooks, f"{name} defines the hook(s) {hooks}; hooks belong in gateway_conformance/plugin.py"


def test_plugin_registers_every_fixture_module_by_name_without_star_imports() -> None:
    tree = ast.parse(Path(plugin.__file__).read_text())
    stars = [node.module for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names)]
    assert not stars, f"plugin.py star-imports {stars}; name the module in pytest_plugins instead"
    assert sorted(plugin.pytest_plugins) == sorted(_fixture_modules())


def test_a_transport_failure_in_a_test_or_fixture_is_one_sentence(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_remote='''
import pytest
from gateway_conformance.remote import RemoteError

@pytest.fixture
def broken():
    raise RemoteError("connect", "GET", "http://127.0.0.1:9/x", "connection refused")

def test_in_fixture(broken):
    pass

def test_in_call():
    raise RemoteError("connect", "POST", "http://127.0.0.1:9/y", "connection refused")
''')
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, errors=1)
    out = result.stdout.str()
    assert "GET http://127.0.0.1:9/x: connect: connection refused" in out, out
    assert "POST http://127.0.0.1:9/y: connect: connection refused" in out, out
    assert "Traceback" not in out and "raise RemoteError" not in out, out
