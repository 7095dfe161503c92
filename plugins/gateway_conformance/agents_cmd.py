"""``gateway-conformance agents``: which agents the harness knows, which versions are installed
in ``node_modules`` (every npm alias), and whether each one actually starts here."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway_conformance.agents import launch, registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node-modules", type=Path, default=None, metavar="DIR",
                        help="where the CLIs are installed (default: ./node_modules, then the checkout's)")
    parser.add_argument("--no-probe", action="store_true",
                        help="do not start each CLI with --version to prove it runs")


def run(args: argparse.Namespace) -> int:
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
            print(f"{spec.name:12} {spec.display_name} ({spec.npm_package}): not installed (run `npm ci`)")
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
