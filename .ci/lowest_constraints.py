"""Print a pip constraints file pinning every direct dependency to its declared lower bound.

Why: a ``>=`` bound that nothing installs is a guess (``anthropic>=0.40`` once allowed SDKs built
on ``httpx`` while the suite hands them ``httpx2`` clients). ``./tasks lowest`` installs these
pins in a virtualenv of their own and runs the suite, so every lower bound is one that was tested.

Usage: ``python .ci/lowest_constraints.py [EXTRA ...] > constraints.txt``. The core dependencies
and the named extras are pinned; a dependency without a ``>=`` or ``==`` bound is an error (exit 2),
since its lowest version could not be tested.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# name[extras] then the specifier list; environment markers are not used in pyproject.toml.
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


def lower_bound(requirement: str) -> str:
    """``name==version`` for a requirement's ``>=``/``==`` bound; ValueError without one."""
    match = REQUIREMENT.match(requirement)
    if not match:
        raise ValueError(f"cannot read the requirement {requirement!r}")
    name, specifiers = match.group(1), match.group(2)
    for specifier in specifiers.split(","):
        bound = re.match(r"^\s*(>=|==)\s*([^\s,;]+)", specifier)
        if bound:
            return f"{name}=={bound.group(2)}"
    raise ValueError(f"{requirement!r} has no lower bound (>= or ==) to test; declare one in pyproject.toml")


def constraints(extras: list[str]) -> list[str]:
    """The pins for the core dependencies plus ``extras``, in pyproject.toml's order."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [extra for extra in extras if extra not in optional]
    if unknown:
        raise ValueError(f"no extra {', '.join(unknown)} in pyproject.toml (it has {', '.join(optional)})")
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += optional[extra]
    return [lower_bound(requirement) for requirement in requirements]


def main(argv: list[str]) -> int:
    try:
        pins = constraints(argv)
    except ValueError as error:
        print(f"lowest_constraints: {error}", file=sys.stderr)
        return 2
    print("\n".join(pins))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
