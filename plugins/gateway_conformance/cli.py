"""``gateway-conformance``: one thin door onto the harness.

Each subcommand lives in the module that owns its job and exposes ``add_arguments(parser)``
and ``run(args) -> int``; this file only lists them, so adding a command never touches
another command's code. It is also the one error boundary: whatever a command raises on bad
input becomes one line (problem and fix) and exit status 2 (see :mod:`.cli_errors`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gateway_conformance import __version__
from gateway_conformance.cli_errors import USAGE_EXIT, OneLineParser, debugging, explain

PROG = "gateway-conformance"

# name -> (module that owns the command [":attr" for one of several], one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("gateway_conformance.serve", "run the mock gateway and OTLP sink on 127.0.0.1"),
    "config": ("gateway_conformance.config_cmd", "write an agent's gateway config into a HOME"),
    "agents": ("gateway_conformance.agents_cmd", "list, install and canary-test the agent CLIs"),
    "record": ("gateway_conformance.traffic_cmd:record", "record an agent session through a proxy"),
    "replay": ("gateway_conformance.traffic_cmd:replay", "replay cassettes as a client or a server"),
    "new-agent": ("gateway_conformance.traffic_cmd:new_agent_command", "scaffold an agent folder"),
    "report": ("gateway_conformance.report.report_cmd", "write the usage dashboard and conformance matrix"),
    "diff": ("gateway_conformance.diff_cmd", "compare two conformance reports; exit 1 on a regression"),
    "checks": ("gateway_conformance.checks_cmd", "list the check catalogue: requirements, sources, profiles"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    # Not dest="command": a command may have an argument of that name (record's `-- COMMAND...`).
    sub = parser.add_subparsers(dest="_command_name", required=True, metavar="COMMAND")
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
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # raise SystemExit("message") in a command: one line, exit 2
        if isinstance(exc.code, str):
            print(f"{PROG} {args._command_name}: {exc.code}", file=sys.stderr)
            return USAGE_EXIT
        raise
    except Exception as exc:
        message = explain(exc)
        if debugging():
            raise
        if message is None:  # not the input's fault: the harness's own bug, still one line
            message = (f"internal error: {exc}; please report it with the command line "
                       "(GATEWAY_CONFORMANCE_DEBUG=1 shows where it happened)")
        print(f"{PROG} {args._command_name}: {message}", file=sys.stderr)
        return USAGE_EXIT


if __name__ == "__main__":
    sys.exit(main())
