"""Imports never run back up the layers (docs/architecture.md).

Read from the source with ``ast`` (nothing is imported), so a function-level import counts too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "plugins" / "gateway_conformance"

#: What each part may import from the package besides itself.
ALLOWED: dict[str, frozenset[str]] = {
    "tables": frozenset({"resources"}),
}
#: Parts that must not import each other, in either direction.
INDEPENDENT: tuple[tuple[str, str], ...] = (("gateway", "otlp"),)


def _part(module: str) -> str:
    """``gateway_conformance.tables.delta`` -> ``tables``; ``gateway_conformance.sse`` -> ``sse``."""
    return module.split(".")[1] if module.count(".") else ""


def imports_of(part: str) -> Iterator[tuple[str, int, str]]:
    """(file, line, imported package part) for every import of the package inside ``part``."""
    root = PACKAGE / part
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                if name.startswith("gateway_conformance.") and _part(name) != part:
                    yield str(path.relative_to(PACKAGE.parent)), node.lineno, _part(name)


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_layer_imports_only_below(part: str) -> None:
    wrong = [f"{file}:{line} imports gateway_conformance.{target}"
             for file, line, target in imports_of(part) if target not in ALLOWED[part]]
    assert not wrong, (f"{part}/ may import only {sorted(ALLOWED[part])} from the package "
                       f"(docs/architecture.md), but: {'; '.join(wrong)}")


@pytest.mark.parametrize(("one", "other"), [*INDEPENDENT, *(pair[::-1] for pair in INDEPENDENT)])
def test_independent_parts_do_not_import_each_other(one: str, other: str) -> None:
    wrong = [f"{file}:{line}" for file, line, target in imports_of(one) if target == other]
    assert not wrong, f"{one}/ must not import {other}/ (docs/architecture.md), but: {'; '.join(wrong)}"
