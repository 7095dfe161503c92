"""``gateway-conformance config AGENT --home DIR``: write an agent's gateway config into a HOME.

The token is read from an environment variable (``--token-env``, default DATABRICKS_TOKEN),
never from the command line, and is printed only as a ``$VAR`` reference. The layout
follows the agent version given, else the newest one installed in ``node_modules``, else
the newest layout known; ``--as-documented`` writes the documentation's layout verbatim.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from gateway_conformance.agents import launch, registry
from gateway_conformance.agents.profile import DEFAULT_TOKEN_ENV, ProfileError, TargetProfile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", type=registry.canonical, choices=registry.names())
    parser.add_argument("--home", required=True, type=Path, help="the HOME folder to write into")
    parser.add_argument("--gateway-url", required=True, metavar="URL",
                        help="the gateway root, e.g. https://<ai-gateway-url> (surface paths are added)")
    parser.add_argument("--workspace-url", metavar="URL", help="workspace root, for telemetry")
    parser.add_argument("--token-env", default=DEFAULT_TOKEN_ENV, metavar="NAME",
                        help=f"variable holding the token (default {DEFAULT_TOKEN_ENV})")
    parser.add_argument("--model", help="model (endpoint) name; default: the documented one")
    parser.add_argument("--catalog", default="main")
    parser.add_argument("--schema", default="otel", help="(default otel, as `serve` and the suite use)")
    parser.add_argument("--table-prefix", default="coding_agents")
    parser.add_argument("--telemetry", action="store_true", help="add the OTLP telemetry settings")
    parser.add_argument("--as-documented", action="store_true",
                        help="the documentation's layout exactly, whatever the agent version")
    parser.add_argument("--agent-version", metavar="V", help="render for this version of the agent")
    parser.add_argument("--force", action="store_true",
                        help="overwrite files that exist with other content (e.g. your own settings.json)")


def run(args: argparse.Namespace) -> int:
    agent = registry.get(args.agent)
    version = args.agent_version
    if version is None and (found := launch.newest(agent.spec)) is not None:
        version = found.version
    models = {args.agent: args.model} if args.model else {}
    try:
        profile = TargetProfile(gateway_url=args.gateway_url, workspace_url=args.workspace_url,
                                token_env=args.token_env, models=models, catalog=args.catalog,
                                schema=args.schema, table_prefix=args.table_prefix,
                                telemetry=args.telemetry)
        rendered = agent.render(profile, agent_version=version, as_documented=args.as_documented)
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    home = args.home.expanduser().resolve()
    clashes = [home / f.path for f in rendered.files
               if (home / f.path).exists() and (home / f.path).read_text(encoding="utf-8") != f.content]
    if clashes and not args.force:
        print("error: these files exist with other content (they may hold your own settings); "
              "merge by hand or pass --force:\n" + "\n".join(f"  {p}" for p in clashes), file=sys.stderr)
        return 1
    written = rendered.write(home)
    print(f"# {agent.spec.display_name} {version or '(version unknown: newest layout)'}, "
          f"{rendered.layout} layout, written to {home}:")
    for item, path in zip(rendered.files, written, strict=True):
        print(f"#   {path}  ({oct(item.mode)[2:]}{', holds the token' if item.secret else ''})")
    for line in rendered.export_lines():
        print(line)
    if rendered.steps:
        print("# then, by hand:")
        print("\n".join(f"#   {n}. {step}" for n, step in enumerate(rendered.steps, 1)))
    if agent.spec.runnable:
        argv = [agent.spec.bin or "", *agent.spec.argv("<prompt>", rendered)]
        print(f"# run: HOME={shlex.quote(str(home))} {shlex.join(argv)}")
    return 0
