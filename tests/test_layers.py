"""Imports never run back up the layers of docs/architecture.md.

The layer table is read from docs/architecture.md itself, so the page and this test cannot
disagree; imports are read from the source with ``ast`` (nothing is imported), so a
function-level import counts too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "plugins" / "gateway_conformance"
DOC = ROOT / "docs" / "architecture.md"
_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*(yes|no)\s*\|\s*$")


@dataclass(frozen=True)
class Layer:
    number: int
    name: str
    parts: frozenset[str]
    independent: bool


def layers() -> list[Layer]:
    """The rows of the layer table in docs/architecture.md."""
    found = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            number, name, parts, independent = match.groups()
            names = frozenset(re.findall(r"`(\w+)`", parts))
            found.append(Layer(int(number), name, names, independent == "yes"))
    return found


def parts_on_disk() -> set[str]:
    return {path.stem for path in PACKAGE.iterdir()
            if (path.is_dir() and (path / "__init__.py").exists())
            or (path.suffix == ".py" and path.name != "__init__.py")}


def imports_of(part: str) -> Iterator[tuple[str, int, str]]:
    """(file, line, imported part) for every import of another part of the package inside ``part``."""
    root = PACKAGE / part
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] if node.module != "gateway_conformance" else [
                    f"gateway_conformance.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                target = name.split(".")[1] if name.startswith("gateway_conformance.") else None
                if target and target != part and target in parts_on_disk():
                    yield str(path.relative_to(ROOT)), node.lineno, target


def test_the_table_names_every_part_once() -> None:
    table = layers()
    assert len(table) >= 5, f"no layer table found in {DOC}"
    named = [part for layer in table for part in layer.parts]
    twice = sorted({part for part in named if named.count(part) > 1})
    assert not twice, f"{DOC.name} puts these parts in more than one layer: {twice}"
    missing = sorted(parts_on_disk() - set(named))
    assert not missing, (f"these parts of the package are in no layer of {DOC.name}: {missing}; "
                         f"add each to the row of the layer it belongs to")


@pytest.mark.parametrize("part", sorted(parts_on_disk()))
def test_imports_run_only_down_the_layers(part: str) -> None:
    layer_of = {name: layer for layer in layers() for name in layer.parts}
    if part not in layer_of:
        pytest.fail(f"{part} is in no layer of {DOC.name} (see test_the_table_names_every_part_once)")
    mine = layer_of[part]
    wrong = []
    for file, line, target in imports_of(part):
        theirs = layer_of.get(target)
        if theirs is None:
            continue  # reported by test_the_table_names_every_part_once
        if theirs.number > mine.number:
            wrong.append(f"{file}:{line} imports {target} (layer {theirs.number}, {theirs.name}) "
                         f"from layer {mine.number} ({mine.name})")
        elif theirs is mine and mine.independent:
            wrong.append(f"{file}:{line} imports {target}, which layer {mine.number} ({mine.name}) "
                         f"keeps independent of {part}")
    assert not wrong, f"imports that run back up the layers of {DOC.name}: " + "; ".join(wrong)


def test_the_checker_sees_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan finds function-level imports and ``from gateway_conformance import x``."""
    package = tmp_path / "gateway_conformance"
    (package / "tables").mkdir(parents=True)
    (package / "otlp").mkdir()
    for folder in ("tables", "otlp"):
        (package / folder / "__init__.py").write_text("")
    late = "def late():\n    from gateway_conformance.otlp import sink\n\n"
    (package / "tables" / "bad.py").write_text(late + "from gateway_conformance import otlp\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", package)
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert sorted(target for _, _, target in imports_of("tables")) == ["otlp", "otlp"]
