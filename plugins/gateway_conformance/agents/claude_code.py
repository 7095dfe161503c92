"""Claude Code: ``~/.claude/settings.json`` with an ``env`` block.

The documented block works on every version measured (SPEC section 5), so the documented
and the generated layout are the same file; telemetry adds the documented OTLP variables
to the same ``env`` block (Claude Code lets ``settings.json`` win over the real environment).
"""

from __future__ import annotations

import json

from gateway_conformance.agents.base import ConfigFile, RenderedConfig
from gateway_conformance.agents.profile import TargetProfile

SETTINGS = ".claude/settings.json"
CODING_AGENT_HEADER = "x-databricks-use-coding-agent-mode: true"
METRIC_EXPORT_INTERVAL_MS = "10000"
LOGS_EXPORT_INTERVAL_MS = "5000"


def _otlp_env(profile: TargetProfile, token: str) -> dict[str, str]:
    """The documented telemetry block: one OTLP/HTTP protobuf exporter per signal, each with
    its own table header (the sink routes on it)."""
    env = {"CLAUDE_CODE_ENABLE_TELEMETRY": "1"}
    for signal, table, interval_var, interval in (
            ("METRICS", "metrics", "OTEL_METRIC_EXPORT_INTERVAL", METRIC_EXPORT_INTERVAL_MS),
            ("LOGS", "logs", "OTEL_LOGS_EXPORT_INTERVAL", LOGS_EXPORT_INTERVAL_MS)):
        env[f"OTEL_{signal}_EXPORTER"] = "otlp"
        env[f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"] = "http/protobuf"
        env[f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"] = profile.otlp_url(table)
        env[f"OTEL_EXPORTER_OTLP_{signal}_HEADERS"] = (
            f"content-type=application/x-protobuf,Authorization=Bearer {token},"
            f"X-Databricks-UC-Table-Name={profile.table(table)}")
        env[interval_var] = interval
    return env


def render(profile: TargetProfile, *, agent_version: str | None = None,
           as_documented: bool = False) -> RenderedConfig:
    token = profile.token().reveal()
    env = {
        "ANTHROPIC_MODEL": profile.model("claude-code"),
        "ANTHROPIC_BASE_URL": profile.surface_url("anthropic"),
        "ANTHROPIC_AUTH_TOKEN": token,
        "ANTHROPIC_CUSTOM_HEADERS": CODING_AGENT_HEADER,
        "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS": "1",
    }
    if profile.telemetry:
        env |= _otlp_env(profile, token)
    settings = json.dumps({"env": env}, indent=2) + "\n"
    return RenderedConfig(agent="claude-code", layout="documented" if as_documented else "generated",
                          agent_version=agent_version,
                          files=(ConfigFile(SETTINGS, settings, secret=True),))
