"""Gemini CLI: ``~/.gemini/.env`` (documented) plus ``~/.gemini/settings.json`` (generated).

The documented ``.env`` works up to 0.39.0. From 0.43 the ``.env`` of HOME is ignored
outside a trusted folder, and on 0.61 ``GOOGLE_GEMINI_BASE_URL`` selects a "gateway" auth
type that headless mode rejects; ``settings.json`` fixes both by naming the auth type and
switching folder trust off. It also switches usage statistics off, which stops Gemini CLI's
own traffic (and its per-install ``x-gemini-api-privileged-user-id`` header). 0.39.0 accepts
the same settings, so the generated layout is one layout for every version measured.

Telemetry: Gemini CLI exports OTLP/JSON to ``<otlpEndpoint>/v1/{traces,logs,metrics}``, so
the endpoint is the workspace's ``/api/2.0/otel``; each signal's table header goes through
the standard per-signal ``OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS`` variables in the same ``.env``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway_conformance.agents.base import ConfigFile, RenderedConfig
from gateway_conformance.agents.profile import TargetProfile

DOTENV = ".gemini/.env"
SETTINGS = ".gemini/settings.json"
# The documented .env quotes exactly this value; kept so the file is byte-identical.
QUOTED = frozenset({"GEMINI_API_KEY_AUTH_MECHANISM"})


def dotenv(values: Mapping[str, str], quoted: frozenset[str] = QUOTED) -> str:
    """``KEY=value`` lines, double-quoted where the value has a space (or the docs quote it).

    Values are URLs, names, tokens and header lists; one that would need escaping (a quote,
    a backslash, ``$`` which dotenv parsers may expand, a line break) is refused, not mangled.
    """
    for key, value in values.items():
        if any(c in value for c in "\"'\\\n$"):
            raise ValueError(f"{key}: value needs escaping that a .env file cannot express safely")
    return "".join(f'{k}="{v}"\n' if k in quoted or " " in v else f"{k}={v}\n"
                   for k, v in values.items())


def _settings(profile: TargetProfile) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
        "privacy": {"usageStatisticsEnabled": False},
    }
    if profile.telemetry:
        settings["telemetry"] = {"enabled": True, "target": "local", "otlpEndpoint": profile.otlp_base(),
                                 "otlpProtocol": "http", "logPrompts": False}
    return settings


def _otlp_headers(profile: TargetProfile, token: str) -> dict[str, str]:
    return {f"OTEL_EXPORTER_OTLP_{signal}_HEADERS":
            f"Authorization=Bearer {token},X-Databricks-UC-Table-Name={profile.table(table)}"
            for signal, table in (("TRACES", "spans"), ("LOGS", "logs"), ("METRICS", "metrics"))}


def render(profile: TargetProfile, *, agent_version: str | None = None,
           as_documented: bool = False) -> RenderedConfig:
    token = profile.token().reveal()
    env = {
        "GEMINI_MODEL": profile.model("gemini-cli"),
        "GOOGLE_GEMINI_BASE_URL": profile.surface_url("gemini"),
        "GEMINI_API_KEY_AUTH_MECHANISM": "bearer",
        "GEMINI_API_KEY": token,
    }
    if as_documented:
        return RenderedConfig(agent="gemini-cli", layout="documented", agent_version=agent_version,
                              files=(ConfigFile(DOTENV, dotenv(env), secret=True),))
    if profile.telemetry:
        env |= _otlp_headers(profile, token)
    files = (ConfigFile(DOTENV, dotenv(env), secret=True),
             ConfigFile(SETTINGS, json.dumps(_settings(profile), indent=2) + "\n"))
    return RenderedConfig(agent="gemini-cli", layout="generated", agent_version=agent_version, files=files)
