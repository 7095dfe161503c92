"""What the target claims and what it is known to fail: claims and expected failures.

Both come from the target profile (docs/platform-teams.md):

- **claims**: a check of an agent or surface the gateway does not claim is skipped with the
  reason ``not claimed: ...`` (fact ``claim = not claimed``), never failed: a gateway that
  serves no Gemini is not broken for it.
- **expected failures**: the profile's ``expected_failures`` file lists check IDs, each with
  a reason and a link (the gateway's issue or doc). Such a check runs as a strict xfail: when
  it fails the results say ``xfail`` with fact ``expected_failure`` ("fail (expected)" in the
  report); when it passes the run fails with "stale expected failure", so the list cannot
  rot. An ID that matches no check of the run is named at the end of the run (a typo, or a
  check not selected this time). A check runs once per agent (and per variant), and a gateway
  may fail it for some only: ``agents`` and ``variant`` narrow an entry to those cases, so the
  cases that pass are not stale.

The file::

    [[expected]]
    check = "gateway.stream.grammar"
    reason = "closes Responses streams with data: [DONE] and drops event: lines"
    link = "https://github.com/<org>/<gateway>/issues/1234"
    agents = ["codex"]          # optional: only these agents' cases
    variant = "503"             # optional: only this parametrize variant
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway_conformance.checks import Catalogue, Identity, catalogue, check_id, identity
from gateway_conformance.target import Claims, Target, target_of

CLAIM_FACT = "claim"
EXPECTED_FACT = "expected_failure"
NOT_CLAIMED = "not claimed"
_EXPECTED_KEY = pytest.StashKey["ExpectedFailure"]()


@dataclass(frozen=True)
class ExpectedFailure:
    check: str
    reason: str
    link: str
    source: Path
    agents: tuple[str, ...] | None = None  # None: every agent's case
    variant: str | None = None  # None: every variant

    def describe(self) -> str:
        return f"{self.reason} ({self.link})"

    @property
    def label(self) -> str:
        """The check ID with the cases it is narrowed to, as messages name the entry."""
        scope = [", ".join(self.agents)] if self.agents else []
        scope += [self.variant] if self.variant else []
        return self.check + (f"[{', '.join(scope)}]" if scope else "")

    def applies(self, found: Identity) -> bool:
        return ((self.agents is None or any(agent in self.agents for agent in found.agents))
                and (self.variant is None or found.variant == self.variant))


def load_expected(path: Path) -> dict[str, tuple[ExpectedFailure, ...]]:
    """check ID -> its entries; a malformed file is a usage error naming the file and the entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise pytest.UsageError(f"expected failures {path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise pytest.UsageError(f"expected failures {path}: not TOML: {exc}") from None
    entries = data.get("expected", [])
    if set(data) - {"expected"} or not isinstance(entries, list):
        raise pytest.UsageError(f"expected failures {path}: holds only [[expected]] tables "
                                f"(check, reason, link)")
    found: dict[str, tuple[ExpectedFailure, ...]] = {}
    for index, entry in enumerate(entries):
        entry = entry if isinstance(entry, dict) else {}
        fields = {key: entry.get(key) for key in ("check", "reason", "link")}
        complete = all(isinstance(value, str) and value.strip() for value in fields.values())
        if not complete or set(entry) - {*fields, "agents", "variant"}:
            raise pytest.UsageError(f"expected failures {path}: expected[{index}] needs check, reason "
                                    f"and link (non-empty strings), may have agents and variant, and "
                                    f"nothing else")
        agents, variant = entry.get("agents"), entry.get("variant")
        if agents is not None and not (isinstance(agents, list) and agents
                                       and all(isinstance(a, str) for a in agents)):
            raise pytest.UsageError(f"expected failures {path}: expected[{index}].agents is a list of "
                                    f"agent names")
        if variant is not None and not isinstance(variant, str):
            raise pytest.UsageError(f"expected failures {path}: expected[{index}].variant is a string")
        failure = ExpectedFailure(str(fields["check"]), str(fields["reason"]), str(fields["link"]), path,
                                  tuple(agents) if agents else None, variant)
        if any(other.label == failure.label for other in found.get(failure.check, ())):
            raise pytest.UsageError(f"expected failures {path}: {failure.label} is listed twice")
        found[failure.check] = (*found.get(failure.check, ()), failure)
    return found


def profiles_not_claimed(profiles: tuple[str, ...], claims: Claims, registry: Catalogue) -> list[str]:
    """The profiles of a check, other than the agents' own, that a profile claim leaves out.

    Claiming an agent's profile claims its checks for that agent, but not what only another
    profile promises: a check also in ``databricks`` (request tags, usage tables) or
    ``otlp-sink`` needs that profile claimed too, so claiming Claude Code does not claim
    Databricks' own behaviours.
    """
    if claims.profiles is None:
        return []
    agents_own = {profile.name for profile in registry.profiles if profile.agent}
    return [p for p in profiles if p not in agents_own and p not in claims.profiles]


class Expectations:
    """The pytest side: marks claims and expected failures at collection, names stale ones."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.expected = load_expected(target.expected_failures) if target.expected_failures else {}
        self.unmatched: list[str] = []
        self.in_profiles = _profile_checks(target)  # None: no profile claim

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        matched: set[str] = set()
        where = f" (claims in {self.target.source})" if self.target.source else ""
        for item in items:
            found = identity(item)
            if found is None:
                continue  # a gwc_self_check or a test bound to no check: not the gateway's
            unclaimed = None
            if not any(self.target.claims.claims_agent(agent) for agent in found.agents):
                unclaimed = ", ".join(found.agents)
            elif self.in_profiles is not None and not any(
                    found.check.id in ids and (agent is None or agent in found.agents)
                    for agent, ids in self.in_profiles):
                agents = ", ".join(found.agents)
                unclaimed = f"{found.check.id} for {agents} (in none of the claimed profiles)"
            elif missing := profiles_not_claimed(found.check.profiles, self.target.claims, catalogue()):
                unclaimed = f"{found.check.id}: it is in the profile {' and '.join(missing)}"
            if unclaimed is not None:
                reason = f"{NOT_CLAIMED}: {self.target.label()} does not claim {unclaimed}{where}"
                item.add_marker(pytest.mark.skip(reason=reason))
                item.user_properties.append((CLAIM_FACT, NOT_CLAIMED))
                continue
            entry = next((e for e in self.expected.get(check_id(item) or "", ()) if e.applies(found)), None)
            if entry is not None:
                matched.add(entry.label)
                item.stash[_EXPECTED_KEY] = entry
                item.add_marker(pytest.mark.xfail(strict=True,
                                                  reason=f"expected failure: {entry.describe()}"))
                item.user_properties.append((EXPECTED_FACT, entry.describe()))
        self.unmatched = sorted({e.label for entries in self.expected.values() for e in entries} - matched)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for check in self.unmatched:  # a typo, a removed check, or just not selected this time
            terminalreporter.write_line(f"gateway-conformance: expected failure {check} "
                                        f"({self.target.expected_failures}) matched no check of this run",
                                        yellow=True)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any],
                                  ) -> Iterator[None]:
        report: pytest.TestReport = yield  # type: ignore[misc]
        entry = item.stash.get(_EXPECTED_KEY, None)
        if (entry is not None and call.when == "call" and report.failed
                and str(report.longrepr).startswith("[XPASS(strict)]")):
            report.longrepr = (f"stale expected failure: {entry.label} passes now; remove it from "
                               f"{entry.source} (it was listed because: {entry.describe()})")
        return report  # type: ignore[return-value]


def _profile_checks(target: Target) -> list[tuple[str | None, set[str]]] | None:
    """Per claimed profile: its agent (a case is claimed for that agent only) and its check
    IDs. None: no profile claim. An unknown profile stops the run, naming the known ones."""
    names = target.claims.profiles
    if names is None:
        return None
    registry = catalogue()
    claimed = []
    for name in names:
        try:
            profile = registry.profile(name)
        except KeyError as exc:
            raise pytest.UsageError(f"--target {target.source}: claims.profiles: {exc.args[0]}") from None
        claimed.append((profile.agent, {check.id for check in registry.in_profile(name)}))
    return claimed


def configure(config: pytest.Config) -> None:
    """From ``pytest_configure``: only a profile with claims or expected failures needs it."""
    target = target_of(config)
    claims = target.claims
    claimed = (claims.agents, claims.surfaces, claims.profiles)
    if target.expected_failures or any(x is not None for x in claimed):
        config.pluginmanager.register(Expectations(target), "gateway-conformance-expectations")
