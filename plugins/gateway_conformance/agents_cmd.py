"""``gateway-conformance agents [list|install|canary|matrix]``: the agent CLIs the harness
launches.

- ``list`` (the default): the agents the harness knows, the versions installed (every npm
  alias in the node_modules folder the suite uses), and whether each one starts here.
- ``install``: the pinned CLIs (the package-lock shipped with the package) with ``npm ci``
  into ``$GATEWAY_CONFORMANCE_NODE_MODULES`` or a per-user cache folder the suite finds by
  itself, so a wheel user, who has no checkout to run ``npm ci`` in, gets the same CLIs.
- ``canary``: the newest published versions tried with both configs (:mod:`.agents.canary`).
- ``matrix``: the README table from the last results file (:mod:`.agents.matrix`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway_conformance.agents import canary, launch, matrix, registry
from gateway_conformance.cli_errors import CommandError
from gateway_conformance.resources import inside_installed_package, node_pins_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node-modules", type=Path, default=None, metavar="DIR",
                        help=f"where the CLIs are (default ${launch.NODE_MODULES_ENV}, else ./node_modules, "
                             f"the checkout's, then {launch.agents_cache()})")
    parser.add_argument("--no-probe", action="store_true",
                        help="list: do not start each CLI with --version to prove it runs")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("list", help="agents, installed versions, runnable here (the default)")
    install = sub.add_parser("install", help="install the pinned CLIs with npm into a cache folder")
    install.add_argument("--npm", default="npm", help="the npm executable (default: npm on PATH)")
    run = sub.add_parser("canary", help="try the newest published CLIs with both configs")
    run.add_argument("--agent", action="append", type=registry.canonical, choices=_cli_agents(),
                     help="only this agent (repeatable; default: every agent with a CLI)")
    run.add_argument("--last", type=int, default=1, metavar="N",
                     help="the newest N published versions of each (default 1)")
    run.add_argument("--pinned", action="store_true",
                     help="instead of asking npm: the installed (pinned) versions, as CI runs them")
    run.add_argument("--npm", default="npm", help="the npm executable (default: npm on PATH)")
    run.add_argument("--results", type=Path, default=matrix.results_file(), metavar="FILE",
                     help="the results file new rows are compared with (default: the shipped one)")
    run.add_argument("--update", action="store_true", help="write the measured rows into --results")
    run.add_argument("--report", type=Path, default=None, metavar="JSON",
                     help="keep the checks' --conformance-report here (`gateway-conformance report "
                          "--results JSON` draws the HTML version matrix from it)")
    table = sub.add_parser("matrix", help="print the README matrix from the results file")
    table.add_argument("--results", type=Path, default=matrix.results_file(), metavar="FILE")
    table.add_argument("--readme", type=Path, default=None, metavar="README.md",
                       help="rewrite the generated block of this file instead of printing")


def _cli_agents() -> list[str]:
    return [a.name for a in registry.all_agents() if a.spec.runnable]


def run(args: argparse.Namespace) -> int:
    actions = {"list": _list, "install": _install, "canary": _canary, "matrix": _matrix}
    return actions[args.action or "list"](args)


def _list(args: argparse.Namespace) -> int:
    root = args.node_modules or launch.default_node_modules()
    print(f"# node_modules: {root}")
    for agent in registry.all_agents():
        spec = agent.spec
        if not spec.runnable:
            print(f"{spec.name:12} {spec.display_name}: no CLI (surface {spec.surface}); "
                  f"config rendered for a person to follow")
            continue
        found = launch.installations(spec, root)
        if not found:
            print(f"{spec.name:12} {spec.display_name} ({spec.npm_package}): not installed: "
                  f"{launch.install_hint()}")
            continue
        for inst in found:
            if args.no_probe:
                status = "not probed"
            else:
                ok, detail = launch.check_runnable(inst)
                status = "runnable" if ok else f"NOT runnable: {detail}"
            expected = "works" if spec.documented_works(inst.version) else "fails"
            print(f"{spec.name:12} {inst.version:10} {inst.alias:22} {status}; documented config {expected}")
    return 0


def _install(args: argparse.Namespace) -> int:
    """``npm ci`` of the shipped pins into the cache's prefix (the folder above node_modules)."""
    target = args.node_modules or (Path(p) if (p := os.environ.get(launch.NODE_MODULES_ENV))
                                   else launch.agents_cache())
    if target.name != "node_modules" or (target.exists() and not target.is_dir()):
        raise CommandError(f"{target}: give a folder named node_modules (npm installs into "
                           "<prefix>/node_modules)")
    prefix = target.parent
    prefix.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(node_pins_dir() / name, prefix / name)
    print(f"installing the pinned agent CLIs into {target} (npm ci; a few minutes the first time)",
          file=sys.stderr)
    canary.run_npm(args.npm, "ci", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
                timeout=1800)
    for agent in registry.all_agents():
        for inst in launch.installations(agent.spec, target):
            print(f"{agent.name:12} {inst.version:10} {inst.directory}")
    if target.resolve() != launch.default_node_modules().resolve():
        print(f"# the suite looks elsewhere first: export {launch.NODE_MODULES_ENV}={target}")
    return 0


def _canary(args: argparse.Namespace) -> int:
    if args.update and inside_installed_package(args.results):
        raise CommandError(f"--update would write {args.results}, inside the installed package: give "
                           "--results FILE (a results file of your own)")
    names = args.agent or _cli_agents()
    specs = [registry.get(name).spec for name in names]
    known = matrix.load(args.results)
    def checker(node_modules: Path, agents: Sequence[str]) -> list[matrix.Row]:
        return canary.check(node_modules, agents, keep_report=args.report)

    if args.pinned:
        rows = checker(args.node_modules or launch.default_node_modules(), names)
        result = canary.CanaryResult(rows, {r.key for r in rows} - {r.key for r in known})
    else:
        if args.last < 1:
            raise CommandError(f"--last {args.last}: give 1 or more")
        result = canary.run_canary(specs, last=args.last, known=known, npm=args.npm, checker=checker)
    print(f"{'agent':12} {'version':10} {'documented':12} {'generated':12}")
    for row in matrix.sort_rows(result.rows):
        mark = "  NEW" if row.key in result.new else ""
        print(f"{row.agent:12} {row.version:10} {row.documented:12} {row.generated:12}{mark}"
              + (f"  {row.detail}" if row.generated != "pass" and row.detail else ""))
    if not result.rows:
        print("canary: no compatibility check ran: nothing was measured", file=sys.stderr)
        return 1
    if args.update:
        print(f"# wrote {matrix.save(matrix.merge(known, result.rows), args.results)}; "
              "regenerate the README with `gateway-conformance agents matrix --readme README.md`")
    if result.failed:
        failed = ", ".join(f"{r.agent} {r.version}" for r in result.failed)
        print(f"canary: the generated config fails on {failed}: add the layout that version needs to "
              "its agent.toml [[compat.layouts]] (and the renderer, if the layout is new)", file=sys.stderr)
        return 1
    return 0


def _matrix(args: argparse.Namespace) -> int:
    table = matrix.markdown(matrix.load(args.results))
    if args.readme is None:
        print(table, end="")
        return 0
    text = args.readme.read_text(encoding="utf-8")
    args.readme.write_text(matrix.replace_block(text, table, str(args.readme)), encoding="utf-8")
    print(f"wrote the matrix into {args.readme}")
    return 0
