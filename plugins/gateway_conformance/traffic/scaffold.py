"""Agents as data: find agent folders, read their ``agent.toml``, scaffold a new one.

An agent folder is any directory holding an ``agent.toml`` (at least ``name`` and
``surface``) next to a ``cassettes/`` folder. The conformance suite discovers every such
folder under the shipped data dir and under each ``--agents-dir``, so adding an agent is
adding files, never Python code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway_conformance.resources import data_dir
from gateway_conformance.roster import SURFACES, agent_name
from gateway_conformance.surfaces import get as surface
from gateway_conformance.toml_file import read_toml
from gateway_conformance.traffic.cassette import iter_cassettes

AGENT_FILE = "agent.toml"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")

_TEMPLATE = '''\
# {name}: what the harness needs to know about this agent, as data.
# Written by `gateway-conformance new-agent`; see CONTRIBUTING.md for the next steps.
name = "{name}"
display_name = "{display}"
surface = "{surface}"
# The model it is configured with; empty: the model of the surface's documented agent.
model = ""
# npm package and binary when the agent is a CLI the harness can launch; empty otherwise.
npm_package = ""
bin = ""

[launch]
args = []
tool_args = []

[launch.env]

[traits]
path = "{path}"
user_agent_prefix = ""
session_header = ""

[traits.headers]

[compat]
documented_max = ""
'''

# The generation path each surface's agents call, relative to the gateway root.
SURFACE_PATHS = {name: surface(name).agent_path for name in SURFACES}


def default_agents_dir(cwd: Path | None = None) -> Path:
    """Where ``new-agent`` and ``record`` write when not told: ``fixtures/agents`` at the root
    of a source checkout (a contributor adding to the project), else ``./agents`` in the
    working folder (a user's own agents, picked up with ``--agents-dir agents``). Never the
    installed package: a wheel's data is not the user's to change and is lost on upgrade.
    Relative, so the command stored in ``meta.rerecord`` holds no local absolute path."""
    cwd = cwd or Path.cwd()
    checkout = cwd / "fixtures" / "agents"
    if checkout.is_dir() and checkout.resolve() == (data_dir() / "agents").resolve():
        return Path("fixtures", "agents")
    return Path("agents")


class AgentFolderError(ValueError):
    """An agent folder that cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class AgentFolder:
    path: Path
    name: str
    surface: str
    spec: dict[str, Any]

    @property
    def cassettes(self) -> list[Path]:
        return list(iter_cassettes(self.path))


def load_agent(folder: Path) -> AgentFolder:
    spec_file = folder / AGENT_FILE
    spec = read_toml(spec_file, str(spec_file), AgentFolderError)
    name, surface = spec.get("name"), spec.get("surface")
    if not isinstance(name, str) or not name:
        raise AgentFolderError(f"{spec_file}: 'name' is missing")
    if surface not in SURFACES:
        raise AgentFolderError(f"{spec_file}: surface {surface!r} is not one of {', '.join(SURFACES)}")
    return AgentFolder(folder, agent_name(name), surface, spec)


def agent_folder(root: Path, name: str) -> Path:
    """The folder of agent ``name`` under ``root``: dashed (``claude-code``, as new-agent writes
    it), else as given, else underscored (a folder made before agents had one spelling)."""
    dashed = agent_name(name)
    candidates = [root / dashed, root / name, root / dashed.replace("-", "_")]
    return next((c for c in candidates if (c / AGENT_FILE).is_file()), root / dashed)


def agent_folders(roots: Iterable[Path]) -> Iterator[AgentFolder]:
    """Every agent folder directly under each root, in a stable order (duplicates once)."""
    seen: set[Path] = set()
    for root in roots:
        if not root.is_dir():
            continue
        for spec in sorted(root.glob(f"*/{AGENT_FILE}")):
            folder = spec.parent.resolve()
            if folder not in seen:
                seen.add(folder)
                yield load_agent(folder)


def new_agent(name: str, surface: str, root: Path, *, display_name: str | None = None) -> AgentFolder:
    """Create ``root/name/agent.toml`` and ``root/name/cassettes/``; refuses to overwrite."""
    if not _NAME.match(name):
        raise AgentFolderError(f"agent name {name!r}: use lower case letters, digits and '-' "
                               "(it names a folder and a Python-free fixture)")
    name = agent_name(name)  # one spelling: acme_coder is written as acme-coder
    if surface not in SURFACES:
        raise AgentFolderError(f"surface {surface!r} is not one of {', '.join(SURFACES)}")
    folder = root / name
    if (folder / AGENT_FILE).exists():
        raise AgentFolderError(f"{folder / AGENT_FILE} already exists")
    (folder / "cassettes").mkdir(parents=True, exist_ok=True)
    (folder / AGENT_FILE).write_text(_TEMPLATE.format(
        name=name, display=display_name or name.replace("-", " ").title(), surface=surface,
        path=SURFACE_PATHS[surface]), encoding="utf-8")
    return load_agent(folder)
