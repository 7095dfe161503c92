"""Where the shipped suite and data live, in a source checkout and in an installed wheel.

The wheel carries ``conformance/`` and ``fixtures/`` inside the package (``_suite`` and
``_fixtures``, see pyproject.toml); a checkout or an editable install has them at the
repository root, two levels above this package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent.parent


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"none of {[str(c) for c in candidates]} exists: broken installation")


def suite_dir() -> Path:
    """The conformance suite that ``pytest --conformance`` collects."""
    return _first_existing(_PACKAGE / "_suite", _REPO / "conformance")


def data_dir() -> Path:
    """The data fixtures: ``schemas/``, ``agents/<name>/``, ``otlp/``."""
    return _first_existing(_PACKAGE / "_fixtures", _REPO / "fixtures")


def inside_installed_package(path: Path) -> bool:
    """Whether ``path`` is in a wheel's copy of the data (site-packages): never written to."""
    return (_PACKAGE / "_fixtures").is_dir() and path.resolve().is_relative_to(_PACKAGE.resolve())


def node_pins_dir() -> Path:
    """The folder with ``package.json`` and ``package-lock.json``: the pinned agent CLIs."""
    for candidate in (_PACKAGE / "_node", _REPO):
        if (candidate / "package-lock.json").is_file():
            return candidate
    raise FileNotFoundError(f"no package-lock.json in {_PACKAGE / '_node'} or {_REPO}: broken installation")


def schema_file(kind: str) -> Path:
    """The documented DDL of one table kind: ``otel_metrics``, ``ai_gateway_usage``, ..."""
    return data_dir() / "schemas" / f"{kind}.sql"


def schema_kinds() -> tuple[str, ...]:
    """Every table kind there is a DDL file for, sorted."""
    return tuple(sorted(path.stem for path in (data_dir() / "schemas").glob("*.sql")))
