"""``gateway-conformance checks``: the check catalogue offline, as a table, JSON or Markdown.

Filters: ``--profile NAME`` (the checks of one profile) and ``--agent NAME`` (the checks filed
under one agent; ``claude-code`` and ``claude_code`` both work). ``docs/checks.md`` is the
unfiltered Markdown.
"""

from __future__ import annotations

import argparse
import sys

from gateway_conformance.checks import agent_name, catalogue
from gateway_conformance.checks.render import as_json, markdown, table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                        help="how to print the catalogue (default: a table)")
    parser.add_argument("--profile", default=None, metavar="NAME",
                        help="only the checks of this profile")
    parser.add_argument("--agent", default=None, metavar="NAME",
                        help="only the checks filed under this agent")


def run(args: argparse.Namespace) -> int:
    cat = catalogue()
    profiles = [p.name for p in cat.profiles]
    if args.profile and args.profile not in profiles:
        print(f"checks: unknown profile {args.profile!r}; use one of {', '.join(profiles)}", file=sys.stderr)
        return 2
    agents = sorted({a for c in cat.checks for a in c.agents})
    wanted = agent_name(args.agent) if args.agent else None
    if wanted and wanted not in agents:
        print(f"checks: unknown agent {args.agent!r}; use one of {', '.join(agents)}", file=sys.stderr)
        return 2
    selected = cat.select(profile=args.profile, agent=wanted)
    if args.format == "json":
        sys.stdout.write(as_json(selected))
    elif args.format == "markdown":
        sys.stdout.write(markdown(cat, selected))
    else:
        sys.stdout.write(table(selected))
    return 0
