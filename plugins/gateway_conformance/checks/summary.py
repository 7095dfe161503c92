"""The terminal summary at the end of a conformance run: per profile and per agent.

What a person reads first when the run ends: each profile's verdict, then each agent's
passed / failed / expected failures / skipped, with the skip (and expected-failure) reasons
grouped so that 150 identical "gwc_mock_only" skips read as one line with a count. It reads the
run's own test reports, so it needs no results file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pytest

from gateway_conformance.checks.binding import Identity
from gateway_conformance.checks.registry import Catalogue
from gateway_conformance.checks.verdicts import profile_verdicts

# Worst first: the outcome a case shows when its phases disagree (a teardown error after a pass).
_ORDER = ("error", "fail", "xpass", "xfail", "pass", "skip")
_STATS = {"failed": "fail", "error": "error", "passed": "pass", "skipped": "skip", "xfailed": "xfail",
          "xpassed": "xpass"}
_LABELS = (("pass", "passed"), ("fail", "failed"), ("error", "errors"), ("xfail", "expected failures"),
           ("xpass", "unexpected passes"), ("skip", "skipped"))
MAX_REASONS = 6


@dataclass(frozen=True)
class _Result:
    check: str
    agent: str
    outcome: str


def _reason(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail).removeprefix("reason: ") or "expected failure"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "").strip().splitlines()[0] if longrepr else ""


def outcomes(stats: Mapping[str, Iterable[object]]) -> dict[str, tuple[str, str]]:
    """nodeid -> (outcome, reason) from the terminal reporter's stats, worst phase first."""
    found: dict[str, tuple[str, str]] = {}
    for key, outcome in _STATS.items():
        for report in stats.get(key, ()):
            if not isinstance(report, pytest.TestReport):
                continue  # a collect report: the run's collection errors, said by pytest itself
            current = found.get(report.nodeid)
            if current is None or _ORDER.index(outcome) < _ORDER.index(current[0]):
                found[report.nodeid] = (outcome, _reason(report) if outcome in ("skip", "xfail") else "")
    return found


def lines(identities: Mapping[str, Identity], stats: Mapping[str, Iterable[object]], cat: Catalogue,
          claimed: set[str] | None) -> list[str]:
    """The summary's lines (without the section title)."""
    ran = outcomes(stats)
    results = [_Result(found.check.id, agent, ran[nodeid][0])
               for nodeid, found in identities.items() if nodeid in ran for agent in found.agents]
    out = ["profiles:"]
    out += [f"  {verdict.summary()}" for verdict in profile_verdicts(results, claimed, cat)]
    out.append("agents:")
    per_agent: dict[str, Counter[str]] = {}
    reasons: dict[str, Counter[tuple[str, str]]] = {}
    for nodeid, found in identities.items():
        if nodeid not in ran:
            continue
        outcome, reason = ran[nodeid]
        for agent in found.agents:
            per_agent.setdefault(agent, Counter())[outcome] += 1
            if reason:
                reasons.setdefault(agent, Counter())[(outcome, reason)] += 1
    for agent in sorted(per_agent, key=lambda a: (a == "otlp", a)):
        counts = per_agent[agent]
        tally = ", ".join(f"{counts[key]} {label}" for key, label in _LABELS if counts[key])
        out.append(f"  {agent}: {tally}")
        # most frequent first; at equal counts expected failures before skips, then by reason
        grouped = sorted(reasons.get(agent, Counter()).items(),
                         key=lambda kv: (-kv[1], kv[0][0] == "skip", kv[0][1]))
        for (outcome, reason), n in grouped[:MAX_REASONS]:
            kind = "expected failure" if outcome == "xfail" else "skipped"
            out.append(f"      {n} {kind}: {reason[:160]}")
        if len(grouped) > MAX_REASONS:
            rest = sum(n for _, n in grouped[MAX_REASONS:])
            out.append(f"      {rest} more, for {len(grouped) - MAX_REASONS} other reasons (-rs lists each)")
    return out
