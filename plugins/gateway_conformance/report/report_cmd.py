"""``gateway-conformance report``: write the usage dashboard and the conformance matrix as one page.

Either half is optional: ``--tables-dir`` (and ``--ledger``) give the dashboard, read with
deltalake, or through Spark with ``--engine spark`` (``--spark-remote`` for the tables a Spark
Connect server manages); ``--results`` gives the matrix; a second ``--results`` is the run
after an upgrade, and the page shows what changed (also printed here, so a CI log carries it
without opening the page).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway_conformance.report.labels import run_table, with_profiles
from gateway_conformance.report.matrix import diff_reports, format_diff
from gateway_conformance.report.results import ReportError, load_report

DEFAULT_PREFIX = "coding_agents"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables-dir", metavar="DIR",
                        help="root of the Delta tables the sink writes: <DIR>/<catalog>/<schema>/<table>")
    parser.add_argument("--table-prefix", default=DEFAULT_PREFIX, metavar="P",
                        help=f"tables <P>_otel_metrics and <P>_otel_logs (default {DEFAULT_PREFIX})")
    parser.add_argument("--uc-catalog", "--catalog", dest="catalog", metavar="C",
                        help="catalog of the tables (default: the only one found)")
    parser.add_argument("--uc-schema", "--schema", dest="schema", metavar="S",
                        help="schema of the tables (default: the only one found)")
    parser.add_argument("--engine", choices=("deltalake", "spark"), default="deltalake",
                        help="read the tables through the engine that wrote them (default deltalake; "
                             "spark needs the [spark] extra)")
    parser.add_argument("--spark-remote", default=None, metavar="sc://HOST:PORT",
                        help="with --engine spark: read the tables a Spark Connect server manages")
    parser.add_argument("--ledger", metavar="PATH",
                        help="gateway ledger JSON (GET /_admin/ledger of the mock, or a list of records)")
    parser.add_argument("--results", metavar="PATH", action="append", default=[],
                        help="a --conformance-report JSON; twice (before, after) for the upgrade diff")
    parser.add_argument("--target", action="append", default=[], metavar="FILE.toml",
                        help="target profile whose name/version label a run that has none; once for every "
                             "--results, or once per --results")
    parser.add_argument("--title", default="gateway-conformance report", help="page title")
    parser.add_argument("--out", required=True, metavar="PATH", help="the HTML file to write")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: every command's module loads when the CLI starts, and the
    # page needs plotly and deltalake, which no other command does.
    from gateway_conformance.report.dashboard import load_dashboard
    from gateway_conformance.report.html import write_page
    from gateway_conformance.report.sources import SourceError

    if len(args.results) > 2:
        raise SystemExit("give --results at most twice (before, after)")
    if args.spark_remote is not None and args.engine != "spark":
        raise SystemExit("--spark-remote reads through Spark: add --engine spark")
    if args.engine == "spark" and args.tables_dir is None and args.spark_remote is None:
        raise SystemExit("--engine spark reads --tables-dir with a local session, or a Connect server's "
                         "tables with --spark-remote sc://HOST:PORT: give one")
    tables = args.tables_dir is not None or args.spark_remote is not None
    if not tables and args.ledger is None and not args.results:
        raise SystemExit("nothing to show: give --tables-dir/--ledger and/or --results")
    if not Path(args.out).parent.is_dir():
        raise SystemExit(f"--out {args.out}: the folder {Path(args.out).parent} does not exist; "
                         "create it or choose another path")
    try:
        reports = with_profiles([load_report(path) for path in args.results], args.target)
        dashboard = None
        if tables or args.ledger is not None:
            dashboard = load_dashboard(args.tables_dir, args.table_prefix, catalog=args.catalog,
                                       schema=args.schema, ledger=args.ledger, engine=args.engine,
                                       spark_remote=args.spark_remote)
    except (ReportError, SourceError) as exc:
        raise SystemExit(str(exc)) from None
    except ImportError as exc:  # --engine spark without the extra
        raise SystemExit(str(exc)) from None
    path = write_page(args.out, dashboard=dashboard, results=reports, title=args.title)
    if dashboard is not None:
        drawn = sum(1 for chart in dashboard.charts if not chart.empty)
        print(f"dashboard: {drawn} of {len(dashboard.charts)} charts have data")
    if len(reports) == 2:
        print(run_table(reports, ["before", "after"]))
        print(format_diff(diff_reports(*reports)))
    print(f"wrote {path}")
    return 0
