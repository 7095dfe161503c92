"""``gateway-conformance diff OLD NEW``: what an upgrade changed, for a terminal or a CI gate.

Both files are ``--conformance-report`` documents; the comparison is the report module's
(:func:`~gateway_conformance.report.matrix.diff_reports`), so this command, the HTML page
and a team's own tooling agree on what a regression is. Above the table, one line per run
says which is which (name, version, time; ``--target`` labels runs that carry none).

Exit status: 0 nothing got worse; 1 at least one regression (passed before, fails now), or
lost coverage (passed before, skipped or missing now; or an after-report with no results)
unless ``--allow-lost-coverage``: a check that stopped running proves nothing, and an
upgrade that silently stops being tested must not look like one that passed; 2 unusable input.
"""

from __future__ import annotations

import argparse
import sys

from gateway_conformance.report.labels import run_table, with_profiles
from gateway_conformance.report.matrix import diff_reports, format_diff
from gateway_conformance.report.results import ReportError, load_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD", help="results of the run before (--conformance-report JSON)")
    parser.add_argument("new", metavar="NEW", help="results of the run after")
    parser.add_argument("--target", action="append", default=[], metavar="FILE.toml",
                        help="target profile whose name/version label a run that has none; once for both "
                             "runs, or twice (OLD's, NEW's)")
    parser.add_argument("--allow-lost-coverage", action="store_true",
                        help="exit 0 even when checks that passed before are skipped or missing now")


def run(args: argparse.Namespace) -> int:
    try:
        old, new = with_profiles([load_report(args.old), load_report(args.new)], args.target)
    except ReportError as exc:
        raise SystemExit(str(exc)) from None
    diff = diff_reports(old, new)
    print(run_table([old, new], ["old", "new"]))
    print(format_diff(diff))
    lost = diff.lost_coverage
    if lost:
        print(f"lost coverage ({len(lost)}): passed in OLD, not measured in NEW:")
        width = max(len(change.label) for change in lost)
        for change in lost:
            print(f"  {change.label:<{width}}  pass -> {change.new or 'missing'}"
                  + (f"  {' '.join(change.new_reason.split())}" if change.new_reason else ""))
    status = 0
    if diff.regressions:
        print(f"{len(diff.regressions)} regression(s)", file=sys.stderr)
        status = 1
    if not args.allow_lost_coverage:
        if not new.results:
            print(f"diff: {args.new} has no results: the run after measured nothing "
                  f"(--allow-lost-coverage to accept)", file=sys.stderr)
            status = 1
        elif lost:
            print(f"{len(lost)} check(s) lost coverage (--allow-lost-coverage to accept)", file=sys.stderr)
            status = 1
    return status
