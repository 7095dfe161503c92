"""The conformance results document: the model, its JSON form, and the rules for reading it.

One document per run (``pytest --conformance --conformance-report PATH``). It is the
contract between a run and everything that reads runs later (the HTML matrix, the upgrade
diff, a platform team's own tooling), so its shape is versioned by ``schema_version`` and
documented in ``docs/report.md``; readers refuse a newer major version instead of guessing.

Nothing here knows about pytest: :mod:`gateway_conformance.report.collector` fills the
model from a run, and this module only holds, validates, redacts and serialises it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from gateway_conformance.checks.registry import SURFACES
from gateway_conformance.checks.verdicts import VERDICTS, ProfileVerdict
from gateway_conformance.secret import scrub

SCHEMA_VERSION = 2
# The document's JSON Schema, shipped in the package (docs/report.md explains each field).
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")
# Version 1 (before the check catalogue): no profiles; checks named from test functions.
OLDEST_SCHEMA_VERSION = 1

Outcome = Literal["pass", "fail", "error", "skip", "xfail", "xpass"]
OUTCOMES: tuple[Outcome, ...] = ("pass", "fail", "error", "skip", "xfail", "xpass")
# Worst first: what a cell that aggregates several tests shows. A known gap (xfail) outranks
# a pass so it stays visible; a skip only shows when nothing ran.
_SEVERITY: tuple[Outcome, ...] = ("error", "fail", "xfail", "xpass", "pass", "skip")
FAILING: frozenset[Outcome] = frozenset({"fail", "error"})
PASSING: frozenset[Outcome] = frozenset({"pass", "xpass"})

CONFIG_KINDS = ("documented", "generated")

MAX_LONGREPR = 20_000
MAX_CAPTURED = 4_000
_REDACTED = "[redacted]"
# Credentials that may surface in assertion messages or captured logs.
_SECRET_PATTERNS = (
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{4,}"),
    re.compile(r"(?i)((?:x-api-key|x-goog-api-key|api[_-]?key|authorization)['\"]?\s*[:=]\s*['\"]?)"
               r"(?!bearer\s)[^\s'\",;]{4,}"),
)


class ReportError(ValueError):
    """A results document that cannot be read: says which file and what is wrong."""


def worst(outcomes: Iterable[Outcome]) -> Outcome | None:
    """The outcome a group of tests shows as one (see ``_SEVERITY``); None for no tests."""
    present = set(outcomes)
    return next((outcome for outcome in _SEVERITY if outcome in present), None)


@dataclass
class Implementation:
    """What was tested: the embedded mock or an external gateway, and what it says it is."""

    target: Literal["embedded", "external"] = "embedded"
    gateway_url: str | None = None
    workspace_url: str | None = None
    name: str | None = None
    version: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Evidence:
    """What a reader needs to judge a result without rerunning it."""

    summary: str | None = None      # one line: the failure message or the skip reason
    longrepr: str | None = None     # the full failure text (failures and errors only)
    facts: dict[str, str] = field(default_factory=dict)     # record_property pairs
    captured: dict[str, str] = field(default_factory=dict)  # captured output, tails (failures only)


@dataclass
class CheckResult:
    """One test's outcome, filed under an agent and a check."""

    nodeid: str
    agent: str
    check: str
    outcome: Outcome
    variant: str | None = None
    reason: str | None = None
    duration_s: float = 0.0
    agent_version: str | None = None
    config: str | None = None       # "documented" | "generated" agent configuration
    identity: str = "default"  # how the agent was found: marker, parameter, surface, id, module, default
    evidence: Evidence = field(default_factory=Evidence)

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies "the same check" across two runs."""
        return (self.agent, self.check, self.variant or "")


@dataclass
class Report:
    """A whole run."""

    implementation: Implementation = field(default_factory=Implementation)
    results: list[CheckResult] = field(default_factory=list)
    created: str = ""
    run: dict[str, Any] = field(default_factory=dict)
    generator: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    # One verdict per profile (gateway_conformance.checks.verdicts), as the run judged it.
    profiles: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        counts = {outcome: 0 for outcome in OUTCOMES}
        for result in self.results:
            counts[result.outcome] += 1
        return counts

    @property
    def agents(self) -> list[str]:
        return sorted({result.agent for result in self.results}, key=agent_order)

    @property
    def agent_versions(self) -> dict[str, list[str]]:
        """The agent CLI versions the run launched, per agent (from the results that name one)."""
        versions: dict[str, set[str]] = {}
        for result in self.results:
            if result.agent_version:
                versions.setdefault(result.agent, set()).add(result.agent_version)
        return {agent: sorted(found) for agent, found in sorted(versions.items())}

    def outcomes(self) -> dict[str, dict[str, Outcome]]:
        """Check ID -> agent -> the worst outcome of its results: the results keyed by ID and agent."""
        grouped: dict[str, dict[str, list[Outcome]]] = {}
        for result in self.results:
            grouped.setdefault(result.check, {}).setdefault(result.agent, []).append(result.outcome)
        return {check: {agent: worst(found) for agent, found in sorted(agents.items())}  # type: ignore[misc]
                for check, agents in sorted(grouped.items())}

    def verdicts(self) -> list[ProfileVerdict]:
        return [ProfileVerdict(p["profile"], p.get("title", p["profile"]), bool(p["claimed"]), p["verdict"],
                               p.get("counts", {}), tuple(p.get("failed", ()))) for p in self.profiles]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "generator": dict(self.generator),
            "created": self.created,
            "implementation": asdict(self.implementation),
            "agents": {agent: {"versions": found} for agent, found in self.agent_versions.items()},
            "run": dict(self.run),
            "summary": self.summary,
            "profiles": [dict(profile) for profile in self.profiles],
            "checks": self.outcomes(),
            "results": [asdict(result) for result in self.results],
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "<results>") -> Report:
        """Validate and load a document; every problem names the file and the field."""
        where = _Where(source)
        doc = where.mapping(data, "document")
        version = doc.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise where.error("schema_version", f"must be an integer, got {version!r}")
        if version > SCHEMA_VERSION:
            raise where.error("schema_version", f"is {version}; this reader understands up to "
                                                f"{SCHEMA_VERSION}: upgrade gateway-conformance")
        if version < OLDEST_SCHEMA_VERSION:
            raise where.error("schema_version", f"is {version}; the first version is {OLDEST_SCHEMA_VERSION}")
        impl = where.mapping(doc.get("implementation", {}), "implementation")
        target = impl.get("target", "embedded")
        if target not in ("embedded", "external"):
            raise where.error("implementation.target", f"must be 'embedded' or 'external', got {target!r}")
        implementation = Implementation(
            target=target,
            gateway_url=where.optional_str(impl, "gateway_url", "implementation"),
            workspace_url=where.optional_str(impl, "workspace_url", "implementation"),
            name=where.optional_str(impl, "name", "implementation"),
            version=where.optional_str(impl, "version", "implementation"),
            extra=where.str_map(impl.get("extra", {}), "implementation.extra"),
        )
        raw_results = doc.get("results")
        if not isinstance(raw_results, list):
            raise where.error("results", f"must be a list, got {type(raw_results).__name__}")
        results = [_result_from_dict(where, item, index) for index, item in enumerate(raw_results)]
        raw_profiles = doc.get("profiles", [])
        if not isinstance(raw_profiles, list):
            raise where.error("profiles", f"must be a list, got {type(raw_profiles).__name__}")
        profiles = [_profile_from_dict(where, item, index) for index, item in enumerate(raw_profiles)]
        return cls(
            implementation=implementation,
            results=results,
            created=str(doc.get("created", "")),
            run=dict(where.mapping(doc.get("run", {}), "run")),
            generator=where.str_map(doc.get("generator", {}), "generator"),
            schema_version=version,
            profiles=profiles,
        )


class _Where:
    """Error messages that point at the offending field of the offending file."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, message: str) -> ReportError:
        return ReportError(f"{self.source}: {path} {message}")

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(path, f"must be a JSON object, got {type(value).__name__}")
        return value

    def optional_str(self, obj: Mapping[str, Any], key: str, parent: str) -> str | None:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise self.error(f"{parent}.{key}", f"must be a string or null, got {value!r}")
        return value

    def str_map(self, value: Any, path: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.mapping(value, path).items()}


def _result_from_dict(where: _Where, item: Any, index: int) -> CheckResult:
    path = f"results[{index}]"
    obj = where.mapping(item, path)
    for key in ("nodeid", "agent", "check", "outcome"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise where.error(f"{path}.{key}", f"must be a non-empty string, got {obj.get(key)!r}")
    if obj["outcome"] not in OUTCOMES:
        raise where.error(f"{path}.outcome", f"must be one of {', '.join(OUTCOMES)}, got {obj['outcome']!r}")
    duration = obj.get("duration_s", 0.0)
    if not isinstance(duration, int | float) or isinstance(duration, bool):
        raise where.error(f"{path}.duration_s", f"must be a number, got {duration!r}")
    ev = where.mapping(obj.get("evidence", {}), f"{path}.evidence")
    return CheckResult(
        nodeid=obj["nodeid"],
        agent=obj["agent"],
        check=obj["check"],
        outcome=cast(Outcome, obj["outcome"]),
        variant=where.optional_str(obj, "variant", path),
        reason=where.optional_str(obj, "reason", path),
        duration_s=float(duration),
        agent_version=where.optional_str(obj, "agent_version", path),
        config=where.optional_str(obj, "config", path),
        identity=str(obj.get("identity", "default")),
        evidence=Evidence(
            summary=where.optional_str(ev, "summary", f"{path}.evidence"),
            longrepr=where.optional_str(ev, "longrepr", f"{path}.evidence"),
            facts=where.str_map(ev.get("facts", {}), f"{path}.evidence.facts"),
            captured=where.str_map(ev.get("captured", {}), f"{path}.evidence.captured"),
        ),
    )


def _profile_from_dict(where: _Where, item: Any, index: int) -> dict[str, Any]:
    path = f"profiles[{index}]"
    obj = dict(where.mapping(item, path))
    if not isinstance(obj.get("profile"), str) or not obj["profile"]:
        raise where.error(f"{path}.profile", f"must be a non-empty string, got {obj.get('profile')!r}")
    if obj.get("verdict") not in VERDICTS:
        raise where.error(f"{path}.verdict", f"must be one of {', '.join(VERDICTS)}, "
                                             f"got {obj.get('verdict')!r}")
    if not isinstance(obj.get("claimed"), bool):
        raise where.error(f"{path}.claimed", f"must be true or false, got {obj.get('claimed')!r}")
    return obj


def load_report(path: str | os.PathLike[str]) -> Report:
    """Read a results JSON file, with a :class:`ReportError` naming the file on any problem."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{source}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    return Report.from_dict(data, source)


def write_report(report: Report, path: str | os.PathLike[str]) -> Path:
    """Write atomically, so a reader never sees half a document (CI may upload mid-run)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


class Redactor:
    """Scrubs credentials from everything that goes into a report.

    Known secret values (every :class:`~gateway_conformance.secret.Secret` of the process,
    the token environment variable, values registered by fixtures) are replaced wherever they
    appear; bearer tokens and API-key headers are masked by shape, since a failing assertion
    can echo a header the harness never saw as a secret.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        # Very short values would redact ordinary words; no real token is that short.
        if secret and len(secret) >= 6:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        text = scrub(text)  # every token this process wrapped in a Secret
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, _REDACTED)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + _REDACTED, text)
        return text


def clip(text: str | None, limit: int, *, tail: bool = False) -> str | None:
    """Bound a text field so one runaway repr cannot bloat the document."""
    if text is None or len(text) <= limit:
        return text
    marker = f"[... {len(text) - limit} characters cut ...]"
    return f"{marker}\n{text[-limit:]}" if tail else f"{text[:limit]}\n{marker}"


def agent_order(agent: str) -> tuple[int, str]:
    """Sort key for agent columns: the agents (agent.toml folders) by name, then the columns of
    surfaces no agent speaks (``otlp``)."""
    return (1 if agent in SURFACES else 0, agent)
