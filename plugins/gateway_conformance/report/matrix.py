"""The conformance matrix and the upgrade diff, from results documents.

Three views of runs: checks x agents (what works for whom), agent versions x agent
configuration (documented vs generated: does the page's config still work for this
release), and old vs new (what an upgrade changed). The models are plain data so the
``report`` command can print the diff as text and the page can render it as HTML; the
HTML here is fragments that :mod:`gateway_conformance.report.html` places on the page.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape

from gateway_conformance.checks import catalogue
from gateway_conformance.report.results import (
    CONFIG_KINDS,
    FAILING,
    PASSING,
    CheckResult,
    Outcome,
    Report,
    agent_order,
    worst,
)

Key = tuple[str, str, str]


@dataclass
class Cell:
    """The tests of one (row, column) of a matrix; shows the worst outcome among them."""

    results: list[CheckResult] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome | None:
        return worst(result.outcome for result in self.results)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for result in self.results:
            counts[result.outcome] += 1
        return dict(counts)


@dataclass
class Matrix:
    """Rows x columns of cells; a missing cell means "not applicable"."""

    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]


def check_matrix(report: Report) -> Matrix:
    """Checks (rows) x agents (columns)."""
    cells: dict[tuple[str, str], Cell] = defaultdict(Cell)
    for result in report.results:
        cells[(result.check, result.agent)].results.append(result)
    rows = sorted({check for check, _ in cells})
    return Matrix(rows=rows, columns=report.agents, cells=dict(cells))


def version_matrix(report: Report) -> Matrix:
    """``agent version`` (rows) x configuration kind (columns), from results that record them."""
    cells: dict[tuple[str, str], Cell] = defaultdict(Cell)
    for result in report.results:
        if result.agent_version is None and result.config is None:
            continue
        row = f"{result.agent} {result.agent_version or '(version unknown)'}"
        cells[(row, result.config or "unspecified")].results.append(result)
    columns = {column for _, column in cells}
    ordered = [kind for kind in CONFIG_KINDS if kind in columns] + sorted(columns - set(CONFIG_KINDS))
    rows = sorted({row for row, _ in cells}, key=lambda row: (agent_order(row.split(" ", 1)[0]), row))
    return Matrix(rows=rows, columns=ordered, cells=dict(cells))


@dataclass(frozen=True)
class Change:
    key: Key
    old: Outcome | None
    new: Outcome | None
    old_reason: str | None = None
    new_reason: str | None = None

    @property
    def label(self) -> str:
        agent, check, variant = self.key
        return f"{agent} / {check}" + (f" [{variant}]" if variant else "")


@dataclass
class ReportDiff:
    """What an upgrade changed, key by key (agent, check, variant)."""

    regressions: list[Change] = field(default_factory=list)  # passed before, fails now
    fixes: list[Change] = field(default_factory=list)        # failed before, passes now
    new: list[Change] = field(default_factory=list)          # only in the new run
    missing: list[Change] = field(default_factory=list)      # only in the old run
    changed: list[Change] = field(default_factory=list)      # any other outcome change
    unchanged: list[Change] = field(default_factory=list)

    @property
    def lost_coverage(self) -> list[Change]:
        """Checks that passed before and were not measured after (skipped, or not there at all)."""
        every = self.missing + self.changed
        return [c for c in every if c.old in PASSING and (c.new is None or c.new == "skip")]

    def sections(self) -> list[tuple[str, list[Change]]]:
        return [("regressions", self.regressions), ("fixes", self.fixes), ("new", self.new),
                ("missing", self.missing), ("changed", self.changed)]


def _by_key(report: Report) -> dict[Key, tuple[Outcome, str | None]]:
    grouped: dict[Key, list[CheckResult]] = defaultdict(list)
    for result in report.results:
        grouped[result.key].append(result)
    folded: dict[Key, tuple[Outcome, str | None]] = {}
    for key, results in grouped.items():
        outcome = worst(result.outcome for result in results)
        assert outcome is not None  # every group holds at least one result
        reason = next((r.reason for r in results if r.outcome == outcome and r.reason), None)
        folded[key] = (outcome, reason)
    return folded


def diff_reports(old: Report, new: Report) -> ReportDiff:
    """Compare two runs; several tests under one key count as their worst outcome."""
    before, after = _by_key(old), _by_key(new)
    diff = ReportDiff()
    for key in sorted(before.keys() | after.keys(), key=lambda k: (agent_order(k[0]), k[1], k[2])):
        old_outcome, old_reason = before.get(key, (None, None))
        new_outcome, new_reason = after.get(key, (None, None))
        change = Change(key, old_outcome, new_outcome, old_reason, new_reason)
        if old_outcome is None:
            diff.new.append(change)
        elif new_outcome is None:
            diff.missing.append(change)
        elif old_outcome in PASSING and new_outcome in FAILING:
            diff.regressions.append(change)
        elif old_outcome in FAILING and new_outcome in PASSING:
            diff.fixes.append(change)
        elif old_outcome != new_outcome:
            diff.changed.append(change)
        else:
            diff.unchanged.append(change)
    return diff


def format_diff(diff: ReportDiff) -> str:
    """The diff as a plain-text table, for terminals and CI logs."""
    lines: list[str] = []
    for title, changes in diff.sections():
        if not changes:
            continue
        lines.append(f"{title} ({len(changes)}):")
        width = max(len(change.label) for change in changes)
        for change in changes:
            why = " ".join(_why(title, change).split())  # one table line per change, whatever the reason
            lines.append(f"  {change.label:<{width}}  {change.old or '-':>5} -> {change.new or '-':<5}"
                         + (f"  {why}" if why else ""))
    lines.append(f"unchanged: {len(diff.unchanged)}")
    return "\n".join(lines)


# ----- HTML fragments -------------------------------------------------------------------------

def _badge(outcome: str | None, extra: str = "") -> str:
    if outcome is None:
        return '<span class="badge o-none">n/a</span>'
    return f'<span class="badge o-{escape(outcome)}">{escape(outcome)}{extra}</span>'


def _facts(facts: dict[str, str], *, ordered: bool = False) -> str:
    """A two-column table; sorted by key unless the caller's order means something."""
    if not facts:
        return ""
    pairs = facts.items() if ordered else sorted(facts.items())
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in pairs)
    return f'<table class="facts">{rows}</table>'


def _result_detail(result: CheckResult) -> str:
    ev = result.evidence
    parts = [
        f'<li class="result" data-nodeid="{escape(result.nodeid)}" data-outcome="{result.outcome}">',
        f"{_badge(result.outcome)} <code>{escape(result.nodeid)}</code>",
        f' <span class="muted">{result.duration_s:.3f} s</span>',
    ]
    if result.reason:
        parts.append(f'<div class="reason">{escape(result.reason)}</div>')
    if ev.summary:
        where = ev.summary.removesuffix(result.reason or "").rstrip(": ")
        parts.append(f'<div class="where muted">at {escape(where)}</div>' if where != ev.summary
                     else f'<div class="where">{escape(ev.summary)}</div>')
    meta = {"variant": result.variant, "agent version": result.agent_version, "config": result.config,
            "filed by": result.identity}
    parts.append(_facts({k: v for k, v in meta.items() if v} | ev.facts))
    if ev.longrepr:
        parts.append(f'<details class="longrepr"><summary>traceback</summary><pre>{escape(ev.longrepr)}</pre>'
                     "</details>")
    for title, text in ev.captured.items():
        parts.append(f'<details class="captured"><summary>{escape(title)}</summary><pre>{escape(text)}</pre>'
                     "</details>")
    parts.append("</li>")
    return "".join(parts)


def _expected_to_fail(cell: Cell) -> bool:
    """A documented configuration known to fail: the test passed because it failed as expected
    (fact ``expected = fail``), or an expected failure (xfail)."""
    return bool(cell.results) and all(r.outcome == "xfail" or (r.outcome == "pass" and
                                                               r.evidence.facts.get("expected") == "fail")
                                      for r in cell.results)


def _cell_html(cell: Cell | None, row: str, column: str) -> str:
    attrs = f'data-row="{escape(row)}" data-column="{escape(column)}"'
    if cell is None:
        return f'<td class="cell na" {attrs} data-outcome="n/a"><span class="muted">&mdash;</span></td>'
    counts = cell.counts()
    count_text = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    # "fail 1/3": how many of the cell's tests show the cell's outcome.
    extra = f" {counts[cell.outcome or '']}/{len(cell.results)}" if len(cell.results) > 1 else ""
    reason = next((r.reason for r in cell.results if r.outcome == cell.outcome and r.reason), None)
    if cell.outcome == "skip":
        reason = None  # skips are listed once per reason (#skips), not in every cell
    items = "".join(_result_detail(result) for result in cell.results)
    label = ('<span class="badge o-xfail" data-label="fails (expected)">fails (expected)</span>'
             if _expected_to_fail(cell) else _badge(cell.outcome, extra))
    check = catalogue().get(row)
    title = f' title="{escape(check.requirement)}"' if check else ""
    return (f'<td class="cell o-{cell.outcome}" {attrs} data-outcome="{cell.outcome}"{title} '
            f'data-count="{len(cell.results)}" data-counts="{escape(json.dumps(counts, sort_keys=True))}">'
            f"<details><summary>{label}"
            + (f'<span class="cell-reason">{escape(reason)}</span>' if reason else "")
            + f'</summary><div class="detail"><div class="muted">{escape(count_text)}</div>'
            f"<ul>{items}</ul></div></details></td>")


def matrix_table(matrix: Matrix, *, table_id: str, row_label: str, empty: str) -> str:
    """A matrix as an HTML table; every cell opens to the evidence of its tests."""
    if not matrix.rows:
        return f'<p class="empty" id="{escape(table_id)}" data-state="empty">{escape(empty)}</p>'
    head = "".join(f'<th scope="col" data-column="{escape(c)}">{escape(c)}</th>' for c in matrix.columns)
    body = []
    for row in matrix.rows:
        cells = "".join(_cell_html(matrix.cells.get((row, column)), row, column) for column in matrix.columns)
        body.append(f'<tr data-row="{escape(row)}"><th scope="row">{_requirement_link(row)}</th>{cells}</tr>')
    return (f'<table class="matrix" id="{escape(table_id)}" data-rows="{len(matrix.rows)}" '
            f'data-columns="{len(matrix.columns)}"><thead><tr><th>{escape(row_label)}</th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _requirement_link(check_id: str) -> str:
    """A check ID linked to where its requirement is written, the sentence as its tooltip."""
    check = catalogue().get(check_id)
    if check is None:  # a version-1 document's check name, or a matrix row that is not a check
        return escape(check_id)
    return (f'<a class="req" href="{escape(check.url)}" title="{escape(check.level)}: '
            f'{escape(check.requirement)}">{escape(check_id)}</a>')


def verdicts_html(report: Report) -> str:
    """One row per profile: verdict, core and extended counts, the failing checks."""
    verdicts = report.verdicts()
    if not verdicts:
        return ('<p class="empty" id="profile-verdicts" data-state="empty">This run carries no profile '
                'verdicts.</p>')
    rows = []
    for v in verdicts:
        counts = "".join(f"<td>{_tally(v.counts.get(tier, {}))}</td>" for tier in ("core", "extended"))
        failed = " ".join(_requirement_link(c) for c in v.failed) or '<span class="muted">&mdash;</span>'
        rows.append(f'<tr data-profile="{escape(v.profile)}" data-verdict="{escape(v.verdict)}">'
                    f"<th scope=\"row\">{escape(v.title)} <code>{escape(v.profile)}</code></th>"
                    f'<td><span class="verdict v-{escape(v.verdict.replace(" ", "-"))}">'
                    f"{escape(v.verdict)}</span></td>{counts}<td>{failed}</td></tr>")
    return ('<table class="verdicts" id="profile-verdicts"><thead><tr><th>profile</th><th>verdict</th>'
            "<th>core</th><th>extended</th><th>failing checks</th></tr></thead>"
            f'<tbody>{"".join(rows)}</tbody></table>')


def _tally(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return '<span class="muted">none</span>'
    rest = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items()
                     if n and status != "passed")
    more = f' <span class="muted">({escape(rest)})</span>' if rest else ""
    return f"{counts.get('passed', 0)}/{total} passed{more}"


def failures_html(report: Report) -> str:
    """Every failing check once, under its requirement, with the agents it fails for and why."""
    failing: dict[str, list[CheckResult]] = defaultdict(list)
    for result in report.results:
        if result.outcome in FAILING:
            failing[result.check].append(result)
    if not failing:
        return '<p class="empty" id="failure-list" data-state="empty">No check failed.</p>'
    blocks = []
    for check_id in sorted(failing):
        check = catalogue().get(check_id)
        results = failing[check_id]
        agents = sorted({r.agent for r in results}, key=agent_order)
        level = escape(check.level) if check else ""
        head = f'<h3>{_requirement_link(check_id)} <span class="muted">{level}</span></h3>'
        why = (f'<p class="requirement">{escape(check.requirement)} <a href="{escape(check.url)}">'
               f"{escape(check.source.title)}</a>: &ldquo;{escape(check.quote)}&rdquo;</p>" if check else "")
        items = "".join(_result_detail(r) for r in results)
        blocks.append(f'<div class="failure" data-check="{escape(check_id)}" '
                      f'data-agents="{escape(",".join(agents))}">{head}{why}'
                      f'<p class="fail-agents">fails for {escape(", ".join(agents))}</p>'
                      f"<details><summary>{len(results)} failing result(s)</summary><ul>{items}</ul>"
                      "</details></div>")
    return f'<div id="failure-list" data-count="{len(failing)}">{"".join(blocks)}</div>'


def skips_html(report: Report) -> str:
    """One line per skip reason, with how many results and which checks it covers."""
    by_reason: dict[str, list[CheckResult]] = defaultdict(list)
    for result in report.results:
        if result.outcome == "skip":
            by_reason[result.reason or "no reason given"].append(result)
    if not by_reason:
        return '<p class="empty" id="skip-list" data-state="empty">Nothing was skipped.</p>'
    lines = []
    for reason, results in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        checks = sorted({r.check for r in results})
        listed = " ".join(_requirement_link(c) for c in checks)
        lines.append(f'<li class="skip-reason" data-count="{len(results)}"><details><summary>'
                     f"<b>{len(results)}</b> skipped: {escape(reason)}</summary><p>{listed}</p>"
                     "</details></li>")
    return f'<ul id="skip-list" data-reasons="{len(by_reason)}">{"".join(lines)}</ul>'


def implementation_block(report: Report, label: str = "") -> str:
    impl = report.implementation
    pairs = {
        "target": impl.target,
        "gateway": impl.gateway_url or "embedded mock (ephemeral URL)",
        "OTLP endpoint": impl.workspace_url,
        "name": impl.name,
        "version": impl.version,
        "run": report.created,
    } | impl.extra
    summary = report.summary
    totals = " ".join(_badge(o, f" {n}") for o, n in summary.items() if n)
    facts = _facts({k: v for k, v in pairs.items() if v}, ordered=True)
    return (f'<div class="impl"><h3>{escape(label or "Implementation")}</h3>{facts}'
            f'<p class="totals">{totals}</p></div>')


def _why(kind: str, change: Change) -> str:
    """The reason that explains the change: today's, or for a fix or a dropped check, the old one."""
    if kind in ("fixes", "missing"):
        return f"before: {change.old_reason}" if change.old_reason else ""
    return change.new_reason or ""


def diff_html(old: Report, new: Report, diff: ReportDiff) -> str:
    """Two runs side by side: their implementations, then what changed and how."""
    head = (f'<div class="side-by-side">{implementation_block(old, "Before")}'
            f'{implementation_block(new, "After")}</div>')
    counts = "".join(f'<span class="diff-count" data-kind="{title}">{title}: <b>{len(changes)}</b></span>'
                     for title, changes in diff.sections())
    rows = []
    for title, changes in diff.sections():
        for change in changes:
            agent, check, variant = change.key
            rows.append(
                f'<tr class="diff-{title}" data-kind="{title}" data-agent="{escape(agent)}" '
                f'data-check="{escape(check)}" data-variant="{escape(variant)}">'
                f'<td><span class="kind k-{title}">{title}</span></td><td>{escape(change.label)}</td>'
                f"<td>{_badge(change.old)}</td><td>{_badge(change.new)}</td>"
                f'<td class="reason">{escape(_why(title, change))}</td></tr>')
    table = (
        '<table class="diff" id="diff-table"><thead><tr><th>change</th><th>agent / check [variant]</th>'
        f'<th>before</th><th>after</th><th>why</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        if rows else '<p class="empty" id="diff-table" data-state="empty">No outcome changed.</p>')
    return (f"{head}<p class=\"diff-counts\">{counts}"
            f'<span class="diff-count" data-kind="unchanged">unchanged: <b>{len(diff.unchanged)}</b></span>'
            f"</p>{table}")


def conformance_sections(reports: Iterable[Report]) -> list[tuple[str, str, str]]:
    """(section id, title, HTML) for the conformance part of the page, in reading order: the
    summary with the verdicts, the upgrade diff (two runs), the failures by requirement, the
    matrix, the agent versions, the skips by reason. The last report is "now"."""
    runs = list(reports)
    if not runs:
        return []
    current = runs[-1]
    sections = [("summary", "Summary: implementation and profile verdicts",
                 implementation_block(current) + verdicts_html(current))]
    if len(runs) >= 2:
        sections.append(("diff", "Upgrade diff: before vs after", diff_html(runs[-2], current,
                                                                         diff_reports(runs[-2], current))))
    sections += [
        ("failures", "Failures, by requirement", failures_html(current)),
        ("matrix", "Conformance: checks x agents",
         matrix_table(check_matrix(current), table_id="check-matrix", row_label="check",
                      empty="This run holds no results.")),
        ("versions", "Agent versions x configuration",
         matrix_table(version_matrix(current), table_id="version-matrix", row_label="agent version",
                      empty="No test recorded an agent version or configuration kind (record_property "
                            "'agent_version', or 'config' = documented | generated).")),
        ("skips", "Skipped, by reason", skips_html(current)),
    ]
    return sections
