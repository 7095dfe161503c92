"""A verdict per profile from a run's results: conformant, partial, not conformant.

The rules (docs/checks.md), after the Kubernetes Gateway API's conformance reports:

- each check of the profile is folded over its results (an agent profile reads only the
  results filed under its agent; the others read every agent's): ``failed`` if any result
  failed or errored, else ``expected`` if any was an expected failure (xfail), else
  ``passed`` if any passed, else ``skipped``; a check with no result at all is ``not run``;
- **not conformant**: a core check failed;
- **conformant**: every core check passed and no extended check failed;
- **partial**: anything in between (a core check skipped, not run or failing as expected,
  or an extended check failing);
- **not measured**: not one check of the profile passed or failed (a run that tested
  nothing of it is never reported as partial success);
- **not claimed**: the target does not claim the profile; its checks are not judged.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gateway_conformance.checks.registry import TIERS, Catalogue, Check, Profile, catalogue

Verdict = Literal["conformant", "partial", "not conformant", "not measured", "not claimed"]
VERDICTS: tuple[Verdict, ...] = ("conformant", "partial", "not conformant", "not measured", "not claimed")
Status = Literal["passed", "failed", "expected", "skipped", "not_run"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "expected", "skipped", "not_run")


class Result(Protocol):
    """What a verdict reads of a result (``report.results.CheckResult`` has it)."""

    check: str
    agent: str
    outcome: str


@dataclass(frozen=True)
class ProfileVerdict:
    profile: str
    title: str
    claimed: bool
    verdict: Verdict
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # tier -> status -> checks
    failed: tuple[str, ...] = ()  # the IDs of the failing checks, core first

    def summary(self) -> str:
        """``claude-code: partial (core 30/31 passed, 1 skipped; extended 12/14 passed, 2 failed)``."""
        if not self.claimed:
            return f"{self.profile}: not claimed"
        parts = []
        for tier in TIERS:
            counts = self.counts.get(tier, {})
            total = sum(counts.values())
            if not total:
                continue
            rest = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items()
                             if n and status != "passed")
            parts.append(f"{tier} {counts.get('passed', 0)}/{total} passed" + (f", {rest}" if rest else ""))
        return f"{self.profile}: {self.verdict} ({'; '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "title": self.title, "claimed": self.claimed,
                "verdict": self.verdict, "counts": self.counts, "failed": list(self.failed)}


def _status(outcomes: list[str]) -> Status:
    if not outcomes:
        return "not_run"
    if {"fail", "error"} & set(outcomes):
        return "failed"
    if "xfail" in outcomes:
        return "expected"
    if {"pass", "xpass"} & set(outcomes):
        return "passed"
    return "skipped"


def _judge(profile: Profile, checks: list[Check], by_key: dict[tuple[str, str], list[str]],
           by_check: dict[str, list[str]]) -> ProfileVerdict:
    counts = {tier: dict.fromkeys(STATUSES, 0) for tier in TIERS}
    failed: list[tuple[int, str]] = []
    for check in checks:
        outcomes = by_key.get((check.id, profile.agent), []) if profile.agent else by_check.get(check.id, [])
        status = _status(outcomes)
        counts[check.tier][status] += 1
        if status == "failed":
            failed.append((TIERS.index(check.tier), check.id))
    core, extended = counts["core"], counts["extended"]
    if core["failed"]:
        verdict: Verdict = "not conformant"
    elif not any(c["passed"] or c["failed"] for c in counts.values()):
        verdict = "not measured"
    elif core["passed"] == sum(core.values()) and not extended["failed"]:
        verdict = "conformant"
    else:
        verdict = "partial"
    return ProfileVerdict(profile.name, profile.title, True, verdict, counts,
                          tuple(check_id for _, check_id in sorted(failed)))


def profile_verdicts(results: Iterable[Result], claimed: Collection[str] | None = None,
                     cat: Catalogue | None = None) -> list[ProfileVerdict]:
    """The verdict of every profile of the catalogue; ``claimed`` None means every profile is."""
    cat = cat or catalogue()
    by_key: dict[tuple[str, str], list[str]] = {}
    by_check: dict[str, list[str]] = {}
    for result in results:
        by_key.setdefault((result.check, result.agent), []).append(result.outcome)
        by_check.setdefault(result.check, []).append(result.outcome)
    verdicts = []
    for profile in cat.profiles:
        if claimed is not None and profile.name not in claimed:
            verdicts.append(ProfileVerdict(profile.name, profile.title, False, "not claimed"))
            continue
        verdicts.append(_judge(profile, cat.in_profile(profile.name), by_key, by_check))
    return verdicts
