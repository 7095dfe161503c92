"""``gateway-conformance diff OLD NEW``: what an upgrade changed, for a terminal or a CI gate.

Both files are ``--conformance-report`` documents; the comparison is the report module's
(:func:`~gateway_conformance.report.matrix.diff_reports`), so this command, the HTML page
and a team's own tooling agree on what a regression is. Exit status: 0 nothing got worse,
1 at least one regression (a check that passed before fails now), 2 unusable input.
"""

from __future__ import annotations

import argparse
import sys

from gateway_conformance.report.matrix import diff_reports, format_diff
from gateway_conformance.report.results import Report, ReportError, load_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD", help="results of the run before (--conformance-report JSON)")
    parser.add_argument("new", metavar="NEW", help="results of the run after")


def _describe(report: Report) -> str:
    impl = report.implementation
    what = " ".join(part for part in (impl.name, impl.version) if part) or "unnamed"
    return f"{what} at {impl.gateway_url or 'the embedded mock'} ({report.created or 'no date'})"


def run(args: argparse.Namespace) -> int:
    try:
        old, new = load_report(args.old), load_report(args.new)
    except ReportError as exc:
        print(f"diff: {exc}", file=sys.stderr)
        return 2
    diff = diff_reports(old, new)
    print(f"old: {_describe(old)}\nnew: {_describe(new)}")
    print(format_diff(diff))
    if diff.regressions:
        print(f"{len(diff.regressions)} regression(s)", file=sys.stderr)
        return 1
    return 0
