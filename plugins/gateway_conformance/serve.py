"""``gateway-conformance serve``: the mock gateway as a process other tools can point at.

It prints exactly one JSON line (URLs and tokens) once everything listens, then serves
until SIGINT or SIGTERM and exits 0. The line is assembled from a list of started
components, each contributing its keys, so more servers (the OTLP sink) join the same
process and the same line without touching the gateway's part.

Tokens never come from argv: ``--token-env NAME=VAR`` reads identity NAME's token from
environment variable VAR, ``--tokens-file`` reads ``NAME=TOKEN`` lines (or a JSON object);
with neither, one random token is generated for identity ``default`` and printed, since it
is the mock's own. Supplied tokens are never printed (their identity maps to ``null``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway_conformance.cli_errors import CommandError, port, positive_or_zero
from gateway_conformance.gateway.app import DEFAULT_MODELS, Gateway, GatewayConfig, create_gateway, new_token
from gateway_conformance.gateway.breakage import BREAKAGES, break_gateway, parse_breakages
from gateway_conformance.gateway.policy import Limits, RealClock
from gateway_conformance.gateway.protocol import GatewayH11Protocol
from gateway_conformance.server import ServerHandle

if TYPE_CHECKING:
    from gateway_conformance.otlp.sink import SinkLimits

DEFAULT_IDENTITY = "default"


@dataclass
class Component:
    """A started server and the keys it adds to the startup line."""

    name: str
    handle: ServerHandle
    info: dict[str, Any] = field(default_factory=dict)


def startup_line(components: Sequence[Component]) -> dict[str, Any]:
    """The one JSON object ``serve --json`` prints: every component's keys, plus their names."""
    line: dict[str, Any] = {"components": [c.name for c in components]}
    for component in components:
        line.update(component.info)
    return line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the startup line as JSON (else text)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--gateway-port", "--port", dest="gateway_port", type=port, default=0, metavar="PORT",
                        help="the gateway's port (default: chosen by the OS); fix it, and --sink-port, "
                             "so exporters configured with the old endpoints find a restarted serve")
    parser.add_argument("--sink-port", type=port, default=0, metavar="PORT",
                        help="the OTLP sink's port (default: chosen by the OS)")
    parser.add_argument("--admin-token-env", default=None, metavar="VAR",
                        help="the admin token (the only token the /_admin routes take) from environment "
                             "variable VAR; default: a random one, printed as admin_token")
    parser.add_argument("--token-env", action="append", default=[], metavar="[NAME=]VAR",
                        help="accept the token in environment variable VAR for identity NAME "
                             f"(default {DEFAULT_IDENTITY}); repeatable")
    parser.add_argument("--tokens-file", type=Path, metavar="PATH",
                        help="accepted tokens: NAME=TOKEN lines, or a JSON object {NAME: TOKEN}")
    parser.add_argument("--allow-model", action="append", default=[], metavar="NAME=MODEL[,MODEL]",
                        help="restrict identity NAME to these models (default: every model); repeatable")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), metavar="MODEL[,MODEL]",
                        help="the models the gateway serves")
    parser.add_argument("--qpm", type=int, default=None, help="requests per minute per token")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per minute per token")
    parser.add_argument("--break", dest="breakages", action="append", default=[], metavar="NAME[,NAME]",
                        help="serve a deliberately broken gateway, to watch the suite catch it: "
                             + "; ".join(f"{name}: {what}" for name, what in BREAKAGES.items()))
    parser.add_argument("--no-sink", action="store_true", help="do not start the OTLP sink")
    parser.add_argument("--no-usage-tables", action="store_true",
                        help="do not write the gateway's usage and inference tables "
                             "(CATALOG.SCHEMA.<PREFIX>_ai_gateway_{usage,inference})")
    parser.add_argument("--tables-dir", type=Path, default=None, metavar="DIR",
                        help="where the sink keeps its Delta tables (default: a temporary folder, "
                             "removed on exit)")
    parser.add_argument("--table-prefix", default="coding_agents", metavar="PREFIX",
                        help="the sink's tables: CATALOG.SCHEMA.<PREFIX>_otel_{metrics,logs,spans}")
    parser.add_argument("--uc-catalog", "--catalog", dest="catalog", default="main",
                        help="the sink's Unity Catalog catalog (default main)")
    parser.add_argument("--uc-schema", "--schema", dest="schema", default="otel",
                        help="the sink's Unity Catalog schema (default otel)")
    parser.add_argument("--engine", choices=("deltalake", "spark"), default="deltalake",
                        help="what writes the Delta tables (default deltalake; spark needs the [spark] "
                             "extra)")
    parser.add_argument("--spark-remote", default=None, metavar="sc://HOST:PORT",
                        help="with --engine spark: a Spark Connect URL instead of a local session")
    parser.add_argument("--sink-body-timeout", type=positive_or_zero, default=None, metavar="SECONDS",
                        help="the longest an OTLP body may take to arrive, else 408 (default 30)")
    parser.add_argument("--sink-min-body-rate", type=positive_or_zero, default=None, metavar="BYTES_PER_S",
                        help="after 10 s, the slowest average an OTLP body may arrive at, else 408 "
                             "(default 16384; 0: no minimum)")
    parser.add_argument("--sink-max-in-flight", type=int, default=None, metavar="N",
                        help="OTLP requests decoded, mapped or committed at once, else 503 (default 64)")
    parser.add_argument("--sink-memory-budget", type=positive_or_zero, default=None, metavar="MIB",
                        help="OTLP body bytes (raw and inflated) all requests may hold at once, else 503 "
                             "(default 256; at least 60, three 20 MiB bodies)")
    parser.add_argument("--compact-every", type=int, default=50, metavar="N",
                        help="compact each table after every N commits, in the background "
                             "(default 50; 0 turns maintenance off; docs/tables.md)")


def _pairs(values: Sequence[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise SystemExit(f"{flag} expects NAME=VALUE, got {value!r}")
        pairs.append((name, rest))
    return pairs


def _read_tokens_file(path: Path) -> dict[str, str]:
    """identity -> token."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SystemExit(f"--tokens-file {path}: cannot read it ({exc.strerror}); give a file of "
                         "NAME=TOKEN lines or a JSON object") from None
    if text.lstrip().startswith("{"):
        return {str(k): str(v) for k, v in json.loads(text).items()}
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return dict(_pairs(lines, "--tokens-file"))


def resolve_tokens(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str | None]]:
    """(token -> identity for the policy, identity -> printable token or None)."""
    by_identity: dict[str, str] = {}
    for spec in args.token_env:
        name, _, var = spec.rpartition("=")
        value = os.environ.get(var)
        if not value:
            raise SystemExit(f"--token-env: environment variable {var} is not set")
        by_identity[name or DEFAULT_IDENTITY] = value
    if args.tokens_file:
        by_identity.update(_read_tokens_file(args.tokens_file))
    printable: dict[str, str | None] = dict.fromkeys(by_identity)
    if not by_identity:
        token = new_token()
        by_identity[DEFAULT_IDENTITY] = token
        printable[DEFAULT_IDENTITY] = token
    return {token: name for name, token in by_identity.items()}, printable


def _admin_token(args: argparse.Namespace, tokens: dict[str, str]) -> str | None:
    """``--admin-token-env``'s value (None: the gateway makes a random one)."""
    if not args.admin_token_env:
        return None
    value = os.environ.get(args.admin_token_env)
    if not value:
        raise SystemExit(f"--admin-token-env: environment variable {args.admin_token_env} is not set; "
                         f"export the admin token there or drop the flag to get a random one")
    if value in tokens:
        raise SystemExit(f"--admin-token-env: ${args.admin_token_env} holds a model token; give the "
                         f"admin routes a token of their own")
    return value


def start_gateway(args: argparse.Namespace, tokens: dict[str, str], printable: dict[str, str | None],
                  stack: ExitStack | None = None) -> Component:
    permissions = {name: [m for m in models.split(",") if m]
                   for name, models in _pairs(args.allow_model, "--allow-model")}
    config = GatewayConfig(tokens=tokens, models=[m for m in args.models.split(",") if m],
                           permissions=permissions, limits=Limits(qpm=args.qpm, tpm=args.tpm),
                           clock=RealClock(), admin_token=_admin_token(args, tokens))
    gateway = create_gateway(config)
    try:
        breakages = parse_breakages(args.breakages)
    except ValueError as exc:
        raise SystemExit(f"--break: {exc}") from None
    handle = ServerHandle(break_gateway(gateway, breakages), host=args.host, port=args.gateway_port,
                          http=GatewayH11Protocol,
                          name="gateway").start()
    info = {"gateway_url": handle.url,
            "urls": {name: handle.url + prefix for name, prefix in gateway.prefixes().items()},
            "admin_url": handle.url + "/_admin",
            # A supplied admin token is never printed, like supplied model tokens.
            "admin_token": None if args.admin_token_env else gateway.admin_token.reveal(),
            "tokens": printable,
            "broken": sorted(breakages)}
    if stack is not None and not args.no_usage_tables:
        info.update(start_usage_tables(args, gateway, tokens, stack))
    return Component("gateway", handle, info)


def _tables_dir(args: argparse.Namespace, stack: ExitStack) -> Path:
    """``--tables-dir``, or one temporary folder (removed on exit) that every writer shares."""
    if args.tables_dir is None:
        args.tables_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gwc-")))
    return args.tables_dir


def start_usage_tables(args: argparse.Namespace, gateway: Gateway, tokens: dict[str, str],
                       stack: ExitStack) -> dict[str, Any]:
    """The gateway's usage and inference tables, written by ``--engine`` next to the sink's."""
    from gateway_conformance.gateway.usage.recorder import UsageRecorder, UsageTables
    from gateway_conformance.tables.engines import make_writer

    tables_dir = _tables_dir(args, stack)
    writer = make_writer(args.engine, tables_dir, **({"remote": args.spark_remote} if args.engine == "spark"
                                                      else {}))
    stack.callback(writer.close)
    tables = UsageTables.for_prefix(args.catalog, args.schema, args.table_prefix)
    gateway.usage = recorder = UsageRecorder(writer, tables, secrets=list(tokens))
    stack.callback(recorder.close)
    return {"tables_dir": str(tables_dir), "gateway_tables": tables.as_dict()}


def sink_limits(args: argparse.Namespace) -> SinkLimits:
    """The sink's bounds: the defaults of :class:`SinkLimits`, with the flags given."""
    from gateway_conformance.otlp.sink import SinkLimits

    flags = {"body_timeout_seconds": args.sink_body_timeout, "body_min_rate": args.sink_min_body_rate,
             "max_in_flight": args.sink_max_in_flight,
             "memory_budget_bytes": None if args.sink_memory_budget is None
             else int(args.sink_memory_budget * 1024 * 1024)}
    if args.sink_max_in_flight is not None and args.sink_max_in_flight < 1:
        raise CommandError("--sink-max-in-flight must be 1 or more (the default is 64)")
    if args.sink_body_timeout == 0:
        raise CommandError("--sink-body-timeout must be more than 0 seconds (the default is 30)")
    try:
        return SinkLimits(**{key: value for key, value in flags.items() if value is not None})
    except ValueError as error:
        raise CommandError(f"--sink-memory-budget is too small: {error}") from None


def start_otlp_sink(args: argparse.Namespace, tokens: Sequence[str], stack: ExitStack) -> Component:
    """The OTLP sink, accepting the gateway's tokens (one PAT serves both, as on Databricks)."""
    from gateway_conformance.otlp.sink import start_sink  # deltalake loads only when the sink runs

    tables_dir = _tables_dir(args, stack)
    from gateway_conformance.tables.maintenance import MaintenancePolicy

    if args.compact_every < 0:
        raise CommandError(f"--compact-every must be 0 (off) or a number of commits, "
                           f"got {args.compact_every}")
    engine_opts: dict[str, object] = {"remote": args.spark_remote} if args.engine == "spark" else {}
    engine_opts["maintenance"] = MaintenancePolicy(compact_every=args.compact_every)
    sink = start_sink(tables_dir, args.table_prefix, tokens, engine=args.engine, catalog=args.catalog,
                      schema=args.schema, limits=sink_limits(args), port=args.sink_port,
                      **engine_opts)
    stack.callback(sink.writer.close)
    info = {"workspace_url": sink.workspace_url, "tables_dir": str(tables_dir),
            "tables": {signal: str(name) for signal, name in sink.table_names.items()}}
    return Component("otlp-sink", sink.server, info)


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    components: list[Component] = []
    stack = ExitStack()
    try:
        tokens, printable = resolve_tokens(args)
        components.append(start_gateway(args, tokens, printable, stack))
        if not args.no_sink:
            components.append(start_otlp_sink(args, list(tokens), stack))
        line = startup_line(components)
        if args.json:
            print(json.dumps(line), flush=True)
        else:
            print(f"gateway on {line['gateway_url']} (Ctrl+C to stop)", flush=True)
            for name, url in line["urls"].items():
                print(f"  {name:10} {url}", flush=True)
            for name, token in line["tokens"].items():
                print(f"  token of {name}: {token or '(supplied)'}", flush=True)
            print(f"  admin token (/_admin routes only): {line['admin_token'] or '(supplied)'}", flush=True)
            if "gateway_tables" in line:
                print(f"usage tables {', '.join(line['gateway_tables'].values())} in {line['tables_dir']}",
                      flush=True)
            if "workspace_url" in line:
                print(f"OTLP sink on {line['workspace_url']} (tables in {line['tables_dir']})", flush=True)
            if line["broken"]:
                print(f"BROKEN on purpose: {', '.join(line['broken'])}", flush=True)
        stop.wait()
    finally:
        for component in reversed(components):
            component.handle.stop()
        stack.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
