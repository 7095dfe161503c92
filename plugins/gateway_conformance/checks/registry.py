"""The check registry as data: every requirement the suite enforces, read from ``checks/*.toml``.

Why TOML files and not Python: a requirement is prose with a citation, reviewed like
documentation, and the catalogue must be readable offline (``gateway-conformance checks``,
``docs/checks.md``) without importing the suite. One file per surface keeps a surface's
requirements together; ``sources.toml`` holds each cited page once; ``profiles.toml`` names
the sets a gateway can claim. The loader validates everything and refuses, with the file
and the field, anything it cannot vouch for: unknown sources, levels, surfaces, agents or
profiles, a duplicate ID, or one requirement written under two IDs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from gateway_conformance.checks.agents import agent_name, agent_surfaces
from gateway_conformance.roster import SURFACES as AGENT_SURFACES
from gateway_conformance.toml_file import read_toml

DATA_DIR = Path(__file__).resolve().parent
SOURCES_FILE = "sources.toml"
PROFILES_FILE = "profiles.toml"

Level = Literal["MUST", "SHOULD", "MAY"]
Runs = Literal["any", "upstream", "embedded"]
Tier = Literal["core", "extended"]
LEVELS: tuple[Level, ...] = ("MUST", "SHOULD", "MAY")
# any: judged from the wire against any target; upstream: needs the mock's view of the
# traffic, so the embedded mock or a target fronting `serve` as its upstream; embedded:
# needs the mock's own internals (its policy, clock, ledger, tables).
RUNS: tuple[Runs, ...] = ("any", "upstream", "embedded")
TIERS: tuple[Tier, ...] = ("core", "extended")
# The four agent surfaces of the gateway plus the workspace's OTLP endpoint.
SURFACES: tuple[str, ...] = (*AGENT_SURFACES, "otlp")
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*){2}$")


class CatalogueError(ValueError):
    """The registry data is wrong; the message names the file, the check and the field."""


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    url: str


@dataclass(frozen=True)
class Check:
    """One requirement: what must hold, where it is written, how strongly, for whom, where it runs."""

    id: str
    requirement: str
    level: Level
    source: Source
    quote: str
    surfaces: tuple[str, ...]
    agents: tuple[str, ...]          # the agents it is filed under (explicit, or those of its surfaces)
    runs: Runs
    profiles: tuple[str, ...]        # every profile it belongs to, derived (see Catalogue.profiles_of)
    tier: Tier
    file: str

    @property
    def url(self) -> str:
        return self.source.url

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "requirement": self.requirement, "level": self.level,
                "source": {"title": self.source.title, "url": self.source.url, "quote": self.quote},
                "surfaces": list(self.surfaces), "agents": list(self.agents), "runs": self.runs,
                "profiles": list(self.profiles), "tier": self.tier, "file": self.file}


@dataclass(frozen=True)
class Profile:
    """A named set of checks a gateway can claim; see profiles.toml for the membership rules."""

    name: str
    title: str
    description: str
    agent: str | None = None
    surfaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    checks: tuple[Check, ...]
    profiles: tuple[Profile, ...]
    sources: Mapping[str, Source] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {check.id: check for check in self.checks})

    def get(self, check_id: str) -> Check | None:
        return self._by_id.get(check_id)  # type: ignore[attr-defined,no-any-return]

    def __getitem__(self, check_id: str) -> Check:
        check = self.get(check_id)
        if check is None:
            raise KeyError(f"{check_id!r} is not in the check catalogue")
        return check

    def __contains__(self, check_id: object) -> bool:
        return check_id in self._by_id  # type: ignore[attr-defined]

    def profile(self, name: str) -> Profile:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(p.name for p in self.profiles)}")

    def in_profile(self, name: str, tier: Tier | None = None) -> list[Check]:
        return [c for c in self.checks if name in c.profiles and (tier is None or c.tier == tier)]

    def select(self, *, profile: str | None = None, agent: str | None = None) -> list[Check]:
        """Checks of a profile and/or filed under an agent (dashed or underscored name)."""
        wanted = agent_name(agent) if agent else None
        return [c for c in self.checks
                if (profile is None or profile in c.profiles) and (wanted is None or wanted in c.agents)]


def _str(where: str, table: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: '{key}' must be a non-empty string, got {value!r}")
    return value.strip()


def _strs(where: str, table: Mapping[str, Any], key: str, default: Iterable[str] = ()) -> tuple[str, ...]:
    value = table.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CatalogueError(f"{where}: '{key}' must be a list of strings, got {value!r}")
    return tuple(value)


def _choice(where: str, value: str, choices: Iterable[str], what: str) -> str:
    options = tuple(choices)
    if value not in options:
        raise CatalogueError(f"{where}: {what} {value!r} is not one of {', '.join(options)}")
    return value


def _sources(data: Mapping[str, Any]) -> dict[str, Source]:
    sources = {}
    for key, table in data.items():
        where = f"{SOURCES_FILE} [{key}]"
        url = _str(where, table, "url")
        if not url.startswith("https://"):
            raise CatalogueError(f"{where}: url must be a public https:// address, got {url!r}")
        sources[key] = Source(key=key, title=_str(where, table, "title"), url=url)
    return sources


def _profiles(data: Mapping[str, Any], agents: Mapping[str, str]) -> list[Profile]:
    profiles = []
    for name, table in data.items():
        where = f"{PROFILES_FILE} [{name}]"
        agent = table.get("agent")
        if agent is not None and agent not in agents:
            raise CatalogueError(f"{where}: agent {agent!r} has no folder under fixtures/agents")
        surfaces = _strs(where, table, "surfaces")
        for surface in surfaces:
            _choice(where, surface, SURFACES, "surface")
        profiles.append(Profile(name=name, title=_str(where, table, "title"),
                                description=_str(where, table, "description"), agent=agent,
                                surfaces=surfaces))
    claimed = {p.agent for p in profiles if p.agent}
    for agent in sorted(set(agents) - claimed):  # a new agent folder is a profile of its own
        profiles.append(Profile(name=agent, title=agent, agent=agent,
                                description=f"What {agent} needs from a gateway ({agents[agent]} surface)."))
    return profiles


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def load(data_dir: Path = DATA_DIR, agents: Mapping[str, str] | None = None) -> Catalogue:
    """Read and validate the registry; ``agents`` maps agent name -> surface (default: agent.toml files)."""
    agents = dict(agent_surfaces() if agents is None else agents)
    sources = _sources(read_toml(data_dir / SOURCES_FILE, SOURCES_FILE, CatalogueError))
    profiles = _profiles(read_toml(data_dir / PROFILES_FILE, PROFILES_FILE, CatalogueError), agents)
    tags = {p.name for p in profiles if p.agent is None and not p.surfaces}
    raw: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for path in sorted(data_dir.glob("*.toml")):
        if path.name in (SOURCES_FILE, PROFILES_FILE):
            continue
        data = read_toml(path, path.name, CatalogueError)
        unknown = set(data) - {"surfaces", "runs", "check"}
        if unknown:
            raise CatalogueError(f"{path.name}: unknown top-level keys {sorted(unknown)}")
        raw += [(path.name, data, table) for table in data.get("check", [])]
    checks: list[Check] = []
    seen: dict[str, str] = {}
    requirements: dict[str, str] = {}
    for file, defaults, table in raw:
        check_id = _str(file, table, "id")
        where = f"{file} {check_id}"
        if not _ID.match(check_id):
            raise CatalogueError(f"{where}: an ID is surface.area.name in lower-case kebab parts")
        if check_id in seen:
            raise CatalogueError(f"{where}: duplicate ID (also in {seen[check_id]})")
        seen[check_id] = file
        unknown = set(table) - {"id", "requirement", "level", "source", "quote", "surfaces", "agents",
                                "runs", "profiles", "tier"}
        if unknown:
            raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
        requirement = _str(where, table, "requirement")
        if not requirement.endswith("."):
            raise CatalogueError(f"{where}: the requirement is one sentence ending with a period")
        key = _normalised(requirement)
        if key in requirements:
            raise CatalogueError(f"{where}: the same requirement is already {requirements[key]}")
        requirements[key] = check_id
        level = _choice(where, _str(where, table, "level"), LEVELS, "level")
        source_key = _str(where, table, "source")
        if source_key not in sources:
            raise CatalogueError(f"{where}: source {source_key!r} is not in {SOURCES_FILE}")
        surfaces = _strs(where, table, "surfaces", defaults.get("surfaces", ()))
        if not surfaces:
            raise CatalogueError(f"{where}: no surfaces (give them in the check or the file)")
        for surface in surfaces:
            _choice(where, surface, SURFACES, "surface")
        explicit = _strs(where, table, "agents")
        for agent in explicit:
            if agent not in agents:
                raise CatalogueError(f"{where}: agent {agent!r} has no folder under fixtures/agents")
        filed = explicit or tuple(a for a, s in agents.items() if s in surfaces)
        extra = _strs(where, table, "profiles")
        for tag in extra:
            if tag not in tags:
                raise CatalogueError(f"{where}: profile {tag!r} is not a tag profile of {PROFILES_FILE}")
        member_of = tuple(p.name for p in profiles
                          if p.name in extra or (p.agent and p.agent in filed)
                          or set(p.surfaces) & set(surfaces))
        tier = table.get("tier", "core" if level == "MUST" else "extended")
        checks.append(Check(
            id=check_id, requirement=requirement, level=level,  # type: ignore[arg-type]
            source=sources[source_key], quote=_str(where, table, "quote"), surfaces=surfaces,
            agents=filed, runs=_choice(where, str(table.get("runs", defaults.get("runs", "any"))),
                                        # type: ignore[arg-type]
                                       RUNS, "runs"),
            profiles=member_of, tier=_choice(where, tier, TIERS, "tier"),  # type: ignore[arg-type]
            file=file))
    return Catalogue(checks=tuple(sorted(checks, key=lambda c: c.id)), profiles=tuple(profiles),
                     sources=sources)


@cache
def catalogue() -> Catalogue:
    """The shipped registry with the shipped agents, loaded once per process."""
    return load()
