"""``gateway-conformance``: one thin door onto the harness.

Each subcommand lives in the module that owns its job and exposes ``add_arguments(parser)``
and ``run(args) -> int``; this file only lists them, so adding a command never touches
another command's code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module that owns the command [":attr" for one of several], one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("gateway_conformance.serve", "run the mock gateway and OTLP sink on 127.0.0.1"),
    "config": ("gateway_conformance.config_cmd", "write an agent's gateway config into a HOME"),
    "agents": ("gateway_conformance.agents_cmd", "list agents, installed versions, runnable here"),
    "record": ("gateway_conformance.traffic_cmd:record", "record an agent session through a proxy"),
    "replay": ("gateway_conformance.traffic_cmd:replay", "replay cassettes as a client or a server"),
    "new-agent": ("gateway_conformance.traffic_cmd:new_agent_command", "scaffold an agent folder"),
    "report": ("gateway_conformance.report.report_cmd", "write the usage dashboard and conformance matrix"),
    "diff": ("gateway_conformance.diff_cmd", "compare two conformance reports; exit 1 on a regression"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway-conformance", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        module_name, _, attr = module_name.partition(":")  # "module:attr" when one module has several
        module = importlib.import_module(module_name)
        module = getattr(module, attr) if attr else module
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
